"""bench.pool.run_pending, the benches' one job loop: every result reaches on_result, and a failing job neither stops
the others nor passes silently (the first failure is raised once every job has ended)."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from bench.pool import run_pending


def _job(job):
    """A stand-in job: fails for the names starting with "bad"."""
    if job.startswith("bad"):
        raise RuntimeError(f"{job} ran out of memory")
    return {"job": job}


def test_a_failing_job_is_raised_after_the_others_have_ended(capsys):
    seen = []
    jobs = ["a", "bad-1", "b", "bad-2", "c"]
    with pytest.raises(RuntimeError, match="bad-1 ran out of memory"):
        run_pending(jobs, _job, ThreadPoolExecutor(1), lambda job, result: seen.append((job, result)),
                    label=lambda job: f"job {job}")
    assert seen == [(j, {"job": j}) for j in ("a", "b", "c")]     # one worker: in submission order
    err = capsys.readouterr().err
    assert "job bad-1 failed" in err and "job bad-2 failed" in err


def test_every_result_reaches_on_result_and_the_executor_is_shut_down():
    seen = []
    executor = ThreadPoolExecutor(2)
    run_pending(["x", "y", "z"], _job, executor, lambda job, result: seen.append(result["job"]))
    assert sorted(seen) == ["x", "y", "z"]
    with pytest.raises(RuntimeError):
        executor.submit(_job, "w")                                  # shut down by run_pending
    run_pending([], _job, ThreadPoolExecutor(1), lambda job, result: pytest.fail("no job to run"))
