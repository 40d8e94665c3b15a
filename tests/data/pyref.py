"""Drive CPython's logging exactly as pysyslog 0.1.0's writer does, with a fixed clock.

usage: python3 pyref.py CONFIG.json INPUT.json   (run in the directory the config's
relative file names are relative to)

INPUT.json: {"config_time": float, "start_time": float,
             "records": [[logger_name, line, created, levelno], ...]}

The writer's flags are set as in pysyslog (`logThreads = logProcesses =
logMultiprocessing = 0`, `_srcfile = None`, `raiseExceptions = False`), then
`dictConfig(json.load(f))`, then per record `logging.getLogger(name).log(levelno, line)`
(pysyslog uses `.info(line)`, i.e. levelno 20) with `time.time()` returning the
record's `created`. At the end `logging.shutdown()` flushes and closes handlers.

A record whose emit raises (see below) is skipped.

If dictConfig fails, prints `CONFIG-ERROR: <str(e)>: <str(e.__cause__)>...` to stdout
and exits with status 3.
"""
import json
import logging
import logging.config
import logging.handlers  # noqa: F401  (dictConfig resolves logging.handlers.*)
import sys
import time

logging.logThreads = 0
logging.logProcesses = 0
logging.logMultiprocessing = 0
logging._srcfile = None
logging.raiseExceptions = False

with open(sys.argv[2]) as f:
    spec = json.load(f)

clock = [spec["config_time"]]
time.time = lambda: clock[0]
logging._startTime = spec["start_time"]

try:
    with open(sys.argv[1]) as f:
        logging.config.dictConfig(json.load(f))
except Exception as e:  # noqa: BLE001 - we report whatever dictConfig raised
    chain = []
    err = e
    while err is not None:
        chain.append(str(err))
        err = err.__cause__
    sys.stdout.write("CONFIG-ERROR: " + ": ".join(chain) + "\n")
    sys.exit(3)

for name, line, created, levelno in spec["records"]:
    clock[0] = created
    try:
        logging.getLogger(name).log(levelno, line)
    except Exception:  # noqa: BLE001
        # FileHandler.emit opens a delayed file outside its try: the error escapes
        # (pysyslog's writer would die here). The Rust engine drops the record for
        # that handler instead; fixtures put such a handler last so the other
        # handlers see the record on both sides.
        pass

logging.shutdown()
