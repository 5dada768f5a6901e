"""The spool in process: torn tails are cut, group commit shares fsyncs, replay is idempotent."""

from __future__ import annotations

import shutil
import threading

import duckdb
import pyarrow.parquet as pq
import pytest

from otelytics.exporter.receiver.service import Receiver, ReceiverConfig, SpoolLocked
from otelytics.exporter.receiver.spool import Spool, read_frames
from tests.receiver._payloads import trace_request


def _config(tmp_path, **kw) -> ReceiverConfig:
    return ReceiverConfig(data_dir=str(tmp_path / "data"), spool_dir=str(tmp_path / "spool"),
                          http_port=None, grpc_port=None, segment_age_s=60, **kw)


def test_torn_tail_is_cut_and_whole_frames_survive(tmp_path):
    sealed = []
    spool = Spool(tmp_path, on_sealed=sealed.append, segment_age_s=60)
    spool.start()
    payloads = [trace_request(i * 3, 3) for i in range(5)]
    for p in payloads:
        spool.append(0, p, None)
    spool.close()
    (seg,) = sealed
    with open(seg.path, "ab") as f:  # a frame whose write never finished
        f.write(b"OTS1\xff\x00\x00\x00\x00garbage")
    again = Spool(tmp_path, on_sealed=sealed.append)
    (recovered,) = again.recover()
    frames, end = read_frames(recovered.path)
    assert [p for _, p in frames] == payloads
    assert recovered.path.stat().st_size == end == seg.size


def test_group_commit_shares_fsyncs_between_concurrent_requests(tmp_path):
    spool = Spool(tmp_path, on_sealed=lambda s: None, segment_age_s=60)
    spool.start()
    body = trace_request(0, 50)
    barrier = threading.Barrier(16)

    def client() -> None:
        barrier.wait()
        for _ in range(20):
            spool.append(0, body, None)

    threads = [threading.Thread(target=client) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    spool.close()
    assert spool.frames == 320
    assert spool.fsyncs < spool.frames  # fsyncs were shared


def test_replay_after_crash_between_publish_and_delete_is_idempotent(tmp_path):
    rec = Receiver(_config(tmp_path))
    rec.start()
    for i in range(4):
        rec.ingest("spans", trace_request(i * 10, 10))
    # keep a copy of the (fsynced) segment as a crash before its deletion would have left it
    (seg_path,) = rec.spool.dir.glob("seg-*.spool")
    shutil.copy(seg_path, tmp_path / "copy")
    assert rec.stop()
    files = sorted((tmp_path / "data" / "spans").rglob("*.parquet"))
    assert len(files) == 1 and not list(rec.spool.dir.glob("seg-*.spool"))
    shutil.copy(tmp_path / "copy", seg_path)

    again = Receiver(_config(tmp_path))
    again.start()
    assert again.recovered_segments == 1
    assert again.stop()
    assert sorted((tmp_path / "data" / "spans").rglob("*.parquet")) == files
    n, distinct = duckdb.connect().execute(
        f"select count(*), count(distinct span_id) from read_parquet('{files[0]}')").fetchone()
    assert n == distinct == 40
    assert pq.read_metadata(files[0]).num_rows == 40


def test_one_spool_one_receiver(tmp_path):
    rec = Receiver(_config(tmp_path))
    with pytest.raises(SpoolLocked, match="in use"):
        Receiver(_config(tmp_path))
    rec.start()
    assert rec.stop()
