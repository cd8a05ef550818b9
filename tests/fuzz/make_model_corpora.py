#!/usr/bin/env python3
# Writes the hand-made seed inputs of queue_model_fuzz and future_model_fuzz
# into tests/fuzz/corpus/<target>/ (seed-*; regression-* inputs are kept as
# they are). Run from anywhere:  python3 tests/fuzz/make_model_corpora.py
# The input formats are described at the top of each target's source.
import os

HERE = os.path.dirname(os.path.abspath(__file__))

# queue_model_fuzz opcodes (see Op in queue_model_fuzz.cc).
PUT, TRYPUT, PUTMANY, GET, TRYGET, GETMANY, TASKDONE, JOIN, SHUTDOWN, \
    SETMAX, PUTGET, SNAP = range(12)
BLOCK, TRY, FOR0, FORNEG, UNTIL_INF, UNTIL_PAST, FOR_SHORT, UNTIL_SHORT = \
    range(8)


def q(kind, maxsize, *ops):
    """kind: 0 Queue, 1 Lifo, 2 Priority, 3 Simple, 4 all; maxsize -3..8."""
    out = [kind, (maxsize + 3) % 12]
    for op in ops:
        out += op
    return bytes(out)


QUEUE = {
    # Fill a Queue(2), overflow it in every non-blocking way, drain it.
    "seed-bounded-full-empty": q(
        4, 2, [PUT, BLOCK, 1], [PUT, BLOCK, 2], [PUT, TRY, 3],
        [PUT, FOR0, 3], [PUT, FORNEG, 3], [PUT, UNTIL_PAST, 3],
        [PUT, FOR_SHORT, 3], [TRYPUT, 0], [GET, BLOCK], [GET, TRY],
        [GET, FOR0], [GET, FOR_SHORT], [GET, UNTIL_SHORT], [TRYGET]),
    # Priority order with equal keys (stability), then a batch get.
    "seed-priority-stable": q(
        2, 0, [PUT, BLOCK, 3], [PUT, BLOCK, 1], [PUT, BLOCK, 1],
        [PUT, BLOCK, 0], [PUT, BLOCK, 3], [PUT, BLOCK, 1],
        [GETMANY, BLOCK, 3, 1], [GETMANY, TRY, 7, 0]),
    # Task tracking: TaskDone too often, Join with zero and short timeouts.
    "seed-taskdone-join": q(
        0, 0, [TASKDONE, 2], [PUT, BLOCK, 0], [PUT, BLOCK, 0],
        [JOIN, FOR0], [JOIN, FOR_SHORT], [TASKDONE, 3], [TASKDONE, 0],
        [GET, BLOCK], [GET, BLOCK], [TASKDONE, 2], [TASKDONE, 2],
        [JOIN, BLOCK], [TASKDONE, 5], [TASKDONE, 1]),
    # Non-immediate shutdown: puts fail, gets drain then fail.
    "seed-shutdown-drain": q(
        4, 3, [PUTMANY, TRY, 4, 0, 1, 2, 3], [SHUTDOWN, 0], [PUT, BLOCK, 0],
        [PUTMANY, BLOCK, 2, 0, 0], [GET, BLOCK], [GETMANY, BLOCK, 7, 2],
        [GET, BLOCK], [GET, TRY], [GETMANY, TRY, 0, 0], [JOIN, FOR0],
        [TASKDONE, 4], [JOIN, BLOCK]),
    # Immediate shutdown drops items, with a taken-but-not-done task.
    "seed-shutdown-immediate": q(
        4, 0, [PUT, BLOCK, 1], [PUT, BLOCK, 2], [PUT, BLOCK, 3], [GET, TRY],
        [SHUTDOWN, 1], [GET, BLOCK], [JOIN, FOR0], [TASKDONE, 2],
        [JOIN, BLOCK], [SHUTDOWN, 0], [SHUTDOWN, 1]),
    # set_maxsize shrinking below the size, growing, going unbounded.
    "seed-set-maxsize": q(
        1, 4, [PUTMANY, BLOCK, 4, 0, 1, 2, 3], [SETMAX, 5], [TRYPUT, 0],
        [SETMAX, 2], [TRYGET], [TRYGET], [TRYPUT, 0], [SETMAX, 3],
        [PUTMANY, TRY, 0x83, 0, 0, 0], [SETMAX, 0], [PUTMANY, BLOCK, 5],
        [GETMANY, FOR_SHORT, 7, 1]),
    # Round trips and an empty batch on an unbounded SimpleQueue.
    "seed-simple": q(
        3, 0, [PUTGET, 1], [PUTMANY, BLOCK, 0], [PUTMANY, BLOCK, 3, 0, 0, 0],
        [GETMANY, UNTIL_PAST, 2, 1], [GET, BLOCK], [GET, UNTIL_SHORT],
        [GETMANY, BLOCK, 0, 0], [SNAP]),
}

# future_model_fuzz opcodes (see Op in future_model_fuzz.cc).
(F_NEW, F_SETVAL, F_SETEXC, F_SETERR, F_SETRUN, F_CANCEL, F_CALLBACK, F_THEN,
 F_RESULT, F_ABANDON, F_WAIT) = range(11)


def f(*ops):
    out = []
    for op in ops:
        out += op
    return bytes(out)


FUTURE = {
    # One promise, callbacks before and after a value, a second set fails.
    "seed-value-callbacks": f(
        [F_NEW], [F_CALLBACK, 0, 0, 0], [F_CALLBACK, 0, 0, 0],
        [F_RESULT, 0], [F_SETVAL, 0, 7], [F_CALLBACK, 0, 0, 0],
        [F_SETVAL, 0, 8], [F_SETEXC, 0], [F_CANCEL, 0], [F_RESULT, 0]),
    # Cancel, then every setter fails; callbacks once.
    "seed-cancel": f(
        [F_NEW], [F_CALLBACK, 0, 0, 0], [F_CANCEL, 0], [F_CANCEL, 0],
        [F_SETRUN, 0], [F_SETVAL, 0, 1], [F_SETERR, 0, 1], [F_RESULT, 0],
        [F_CALLBACK, 0, 0, 0]),
    # Running: cancel fails, then an exception.
    "seed-running-exception": f(
        [F_NEW], [F_SETRUN, 0], [F_SETRUN, 0], [F_CANCEL, 0], [F_RESULT, 0],
        [F_SETEXC, 0], [F_RESULT, 0], [F_SETERR, 0, 0]),
    # Then chains: value, future-taking, throwing; a cancelled continuation.
    "seed-then-chain": f(
        [F_NEW], [F_THEN, 0, 0], [F_THEN, 1, 1], [F_THEN, 2, 2],
        [F_THEN, 0, 0], [F_CANCEL, 4], [F_CALLBACK, 3, 0, 0],
        [F_SETVAL, 0, 5], [F_RESULT, 1], [F_RESULT, 2], [F_RESULT, 3],
        [F_RESULT, 4], [F_WAIT, 0xff]),
    # Callbacks that complete, cancel and add callbacks to other futures
    # (the trampoline order), and an abandoned promise.
    "seed-nested-callbacks": f(
        [F_NEW], [F_NEW], [F_NEW], [F_CALLBACK, 0, 1, 1], [F_CALLBACK, 1, 2, 2],
        [F_CALLBACK, 2, 3, 0], [F_CALLBACK, 1, 0, 0], [F_THEN, 1, 1],
        [F_SETERR, 0, 2], [F_ABANDON, 2], [F_WAIT, 0x0f]),
    # Errors as the model says: SetError(OK), abandon, Wait on a mix.
    "seed-errors-wait": f(
        [F_NEW], [F_NEW], [F_SETERR, 0, 0], [F_SETERR, 0, 3], [F_ABANDON, 1],
        [F_ABANDON, 1], [F_THEN, 1, 0], [F_THEN, 0, 1], [F_WAIT, 0x3f],
        [F_RESULT, 2], [F_RESULT, 3]),
}


def write(target, inputs):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for name, data in inputs.items():
        with open(os.path.join(d, name), "wb") as out:
            out.write(data)


write("queue_model_fuzz", QUEUE)
write("future_model_fuzz", FUTURE)
