"""The per-epoch pretraining line (zoo_core.train.pretraining): loss parts, epoch time, time left."""

from zoo_core.train.pretraining import _epoch_line


def test_epoch_line_names_the_parts_and_the_time_left():
    record = {"epoch": 3, "loss": 4.04851, "contrastive": 4.016, "force": 0.3245, "pairs": 7194, "seconds": 276.6}
    line = _epoch_line(record, 10)
    assert line == ("zoo: pretraining epoch 3/10: loss 4.0485 (contrastive 4.0160, force 0.3245), 276.6 s "
                    "(about 32 min left)")
    assert _epoch_line({**record, "epoch": 1}, 100).endswith("(about 7.6 h left)")
    assert _epoch_line({**record, "epoch": 9, "seconds": 40.0}, 10).endswith("(about 40 s left)")
    assert _epoch_line({**record, "epoch": 10}, 10).endswith("276.6 s")  # last epoch: nothing left to announce
