"""Worker processes for sharded curation: who gets which record, and running the workers safely.

Records are loaded once, in the parent, before the workers are forked, so each worker already holds the
whole record stream (with its lazy image readers, which could not be pickled) and needs only its shard's
indexes. Records about the same image go to the same worker, so each image is decoded once; the rest
are dealt round-robin. Workers meet at a barrier (the shared near-duplicate index must be complete before
anyone queries it), and a worker that fails or dies breaks the barrier, so the others stop instead of
waiting forever; the parent re-raises the failure with the worker's traceback.
"""

from __future__ import annotations

import multiprocessing
import threading
import traceback
import zlib
from multiprocessing.connection import wait
from typing import Any, Callable

from lingshu.data.schema import Rejected

Job = Callable[[int, Any], Any]  # job(worker, barrier) -> a picklable result


def shard_of(index: int, record, workers: int) -> int:
    """The worker (0..workers-1) that screens record `index` (a `Sample` or a benchmark's `BenchmarkItem`): by its
    first image, else round-robin."""
    if record.images:
        return zlib.crc32(record.images[0].ref.encode()) % workers
    return index % workers


def shards(records: list, workers: int) -> list[list[int]]:
    """Disjoint lists of the indexes of `records` to screen, one per worker, each in stream order (a loader's
    `Rejected` records need no screening)."""
    out: list[list[int]] = [[] for _ in range(workers)]
    for index, record in enumerate(records):
        if not isinstance(record, Rejected):
            out[shard_of(index, record, workers)].append(index)
    return out


def _child(job: Job, worker: int, barrier, conn) -> None:
    try:
        result = ("ok", job(worker, barrier))
    except BaseException:  # report everything, including a broken barrier, to the parent
        barrier.abort()
        result = ("error", traceback.format_exc())
    conn.send(result)
    conn.close()


def run_workers(job: Job, workers: int) -> list[Any]:
    """job(w, barrier) for w in 0..workers-1, in forked processes (inline for one); results in worker order."""
    if workers == 1:
        return [job(0, threading.Barrier(1))]
    context = multiprocessing.get_context("fork")  # workers inherit the loaded records and the indexes built so far
    barrier = context.Barrier(workers)
    pipes, processes = [], []
    for worker in range(workers):
        receive, send = context.Pipe(duplex=False)
        process = context.Process(target=_child, args=(job, worker, barrier, send), name=f"curate-worker-{worker}")
        process.start()
        send.close()
        pipes.append(receive)
        processes.append(process)
    results: dict[int, tuple[str, Any]] = {}
    try:
        waiting = {pipe: worker for worker, pipe in enumerate(pipes)}
        while waiting:
            for pipe in wait(list(waiting)):
                worker = waiting.pop(pipe)
                try:
                    results[worker] = pipe.recv()
                except EOFError:  # it died (killed, out of memory) before sending anything
                    processes[worker].join(timeout=10)
                    results[worker] = ("error", f"exited with code {processes[worker].exitcode} without a result")
                    barrier.abort()
    except BaseException:  # interrupted: stop the workers rather than wait for them
        for process in processes:
            process.terminate()
        raise
    finally:
        for process in processes:
            process.join()
    failures = [f"worker {w}: {detail}" for w, (status, detail) in sorted(results.items()) if status == "error"]
    if failures:
        raise RuntimeError("curate worker failed:\n" + "\n".join(failures))
    return [results[w][1] for w in range(workers)]
