import json, os
D = "/work/wt-engine/tests/data/configs"
os.makedirs(D, exist_ok=True)
for f in os.listdir(D): os.remove(os.path.join(D, f))
BASIC = {"basic": {"format": "%(levelname)s:%(name)s:%(message)s"}}
def console(stream="ext://sys.stdout", fmt="basic", **kw):
    h = {"class": "logging.StreamHandler", "stream": stream}
    if fmt: h["formatter"] = fmt
    h.update(kw); return h
def fileh(fn, fmt="basic", cls="logging.FileHandler", **kw):
    h = {"class": cls, "filename": fn}
    if fmt: h["formatter"] = fmt
    h.update(kw); return h
fx = []
def add(name, comment, cfg, test=None, raw=None):
    n = len(fx)
    fname = "%02d-%s" % (n, name)
    if raw is not None:
        text = raw
    else:
        doc = {"//": comment}
        doc.update(cfg)
        if test: doc["_test"] = test
        text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    open(os.path.join(D, fname + ".json"), "w").write(text)
    fx.append((fname, comment))

add("readme-example", "pysyslog's README example, verbatim", None, raw='{"version": 1, "formatters": {"simple": {"format": "%(asctime)s %(message)s"}}, "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "simple", "stream": "ext://sys.stdout"}, "localhost": {"class": "logging.FileHandler", "formatter": "simple", "filename": "./localhost.log", "delay": true}}, "loggers": {"127.0.0.1": {"handlers": ["localhost"], "level": "INFO"}}, "root": {"level": "INFO", "handlers": ["console"]}}\n')
add("basic-root-info", "the standard configuration: root at INFO to stdout",
    {"version": 1, "formatters": BASIC, "handlers": {"console": console()}, "root": {"level": "INFO", "handlers": ["console"]}})
add("root-no-level", "root has handlers but no level: WARNING, so every INFO line is dropped",
    {"version": 1, "formatters": BASIC, "handlers": {"console": console()}, "root": {"handlers": ["console"]}})
add("no-handlers-last-resort", "root at INFO with no handler anywhere: lastResort prints WARNING+ to stderr",
    {"version": 1, "root": {"level": "INFO"}})
add("no-root-section", "handlers defined but no logger uses them: lastResort",
    {"version": 1, "formatters": BASIC, "handlers": {"console": console()}})
add("octet-hierarchy", "logger '10' gets every 10.x peer by whole octets, not 100.x",
    {"version": 1, "formatters": BASIC, "handlers": {"console": console(), "ten": fileh("ten.log")},
     "loggers": {"10": {"handlers": ["ten"]}}, "root": {"level": "INFO", "handlers": ["console"]}})
add("nested-loggers", "'10.1' under '10' under root: a record visits each configured ancestor",
    {"version": 1, "formatters": BASIC, "handlers": {"console": console(), "ten": fileh("ten.log"), "tenone": fileh("tenone.log")},
     "loggers": {"10": {"handlers": ["ten"]}, "10.1": {"handlers": ["tenone"]}}, "root": {"level": "INFO", "handlers": ["console"]}})
add("propagate-false", "'10' with propagate false keeps its peers out of root's handlers",
    {"version": 1, "formatters": BASIC, "handlers": {"console": console(), "ten": fileh("ten.log")},
     "loggers": {"10": {"handlers": ["ten"], "propagate": False}}, "root": {"level": "INFO", "handlers": ["console"]}})
add("logger-level-vs-handler-level", "logger level gates at the origin only; ancestors' levels are not rechecked",
    {"version": 1, "formatters": BASIC, "handlers": {"console": console(), "ten": fileh("ten.log")},
     "loggers": {"10": {"handlers": ["ten"], "level": "WARNING"}, "10.1": {"level": "DEBUG"}}, "root": {"level": "ERROR", "handlers": ["console"]}})
add("handler-level", "a handler level of WARNING drops INFO while another handler takes it",
    {"version": 1, "formatters": BASIC, "handlers": {"console": console(level="WARNING"), "all": fileh("all.log")},
     "root": {"level": "INFO", "handlers": ["console", "all"]}})
add("handler-filter-prefix", "Filter('192.168') passes 192.168.1.1, not 192.1680.1.1",
    {"version": 1, "formatters": BASIC, "filters": {"lan": {"name": "192.168"}},
     "handlers": {"console": console(filters=["lan"])}, "root": {"level": "INFO", "handlers": ["console"]}})
add("logger-filter-not-inherited", "a filter on logger '10' does not act on records from 10.x children",
    {"version": 1, "formatters": BASIC, "filters": {"only101": {"name": "10.1"}},
     "handlers": {"console": console()}, "loggers": {"10": {"filters": ["only101"]}}, "root": {"level": "INFO", "handlers": ["console"]}})
add("logger-filter-own", "a filter on the originating logger drops its records before any handler",
    {"version": 1, "formatters": BASIC, "filters": {"nomatch": {"name": "nomatch"}},
     "handlers": {"console": console()}, "loggers": {"10.1.2.3": {"filters": ["nomatch"]}}, "root": {"level": "INFO", "handlers": ["console"]}})
add("style-brace", "str.format style",
    {"version": 1, "formatters": {"b": {"format": "{levelname} {name}: {message}", "style": "{"}},
     "handlers": {"console": console(fmt="b")}, "root": {"level": "INFO", "handlers": ["console"]}})
add("style-dollar", "string.Template style",
    {"version": 1, "formatters": {"d": {"format": "${levelname} ${name} $message", "style": "$"}},
     "handlers": {"console": console(fmt="d")}, "root": {"level": "INFO", "handlers": ["console"]}})
add("padding-and-numbers", "%-style widths, precision and numbers (levelno, created, relativeCreated, msecs)",
    {"version": 1, "formatters": {"p": {"format": "%(levelname)-8s|%(name)15s|%(levelno)03d|%(created)f|%(relativeCreated).1f|%(msecs)d|%(message).20s"}},
     "handlers": {"console": console(fmt="p")}, "root": {"level": "INFO", "handlers": ["console"]}})
ROT_RECS = [["10.0.0.%d" % (i % 4), "line number %d of the rotation test" % i] for i in range(14)]
add("rotating-size", "RotatingFileHandler: roll when size + len(record) >= maxBytes, keep 3 backups",
    {"version": 1, "formatters": BASIC, "handlers": {"rot": fileh("rot.log", cls="logging.handlers.RotatingFileHandler", maxBytes=120, backupCount=3)},
     "root": {"level": "INFO", "handlers": ["rot"]}}, {"records": ROT_RECS})
add("rotating-backup-zero", "RotatingFileHandler with backupCount 0 never renames: the file grows",
    {"version": 1, "formatters": BASIC, "handlers": {"rot": fileh("rot.log", cls="logging.handlers.RotatingFileHandler", maxBytes=50)},
     "root": {"level": "INFO", "handlers": ["rot"]}}, {"records": ROT_RECS[:5]})
add("rotating-chars-not-bytes", "maxBytes compares characters of the new record, bytes of the file",
    {"version": 1, "formatters": BASIC, "handlers": {"rot": fileh("rot.log", cls="logging.handlers.RotatingFileHandler", maxBytes=64, backupCount=5, delay=True)},
     "root": {"level": "INFO", "handlers": ["rot"]}}, {"records": [["1.2.3.4", "\u00e9\u00e9\u00e9\u00e9\u00e9 \u20ac\u20ac\u20ac %d" % i] for i in range(8)]})
add("timed-seconds-utc", "TimedRotatingFileHandler every 2 s (UTC, delay: first rollover from the clock), clock advancing 0.7 s per record, 2 backups",
    {"version": 1, "formatters": BASIC, "handlers": {"t": fileh("t.log", cls="logging.handlers.TimedRotatingFileHandler", when="S", interval=2, backupCount=2, utc=True, delay=True)},
     "root": {"level": "INFO", "handlers": ["t"]}}, {"records": ROT_RECS, "step": 0.7})
add("timed-minutes-local", "TimedRotatingFileHandler every minute in local time from an existing file's mtime, clock advancing 25 s per record",
    {"version": 1, "formatters": BASIC, "handlers": {"t": fileh("t.log", cls="logging.handlers.TimedRotatingFileHandler", when="m", backupCount=0)},
     "root": {"level": "INFO", "handlers": ["t"]}}, {"records": ROT_RECS[:8], "step": 25, "files": {"t.log": ""}, "mtime": 1795486003.0})
add("timed-midnight-existing-file", "first rollover comes from the existing file's mtime (a day earlier)",
    {"version": 1, "formatters": BASIC, "handlers": {"t": fileh("t.log", cls="logging.handlers.TimedRotatingFileHandler", when="midnight", utc=True, backupCount=3)},
     "root": {"level": "INFO", "handlers": ["t"]}}, {"records": ROT_RECS[:3], "files": {"t.log": "old line\n"}, "mtime": 1795399603.0})
add("timed-weekly-hours", "W3 and H rollovers computed from an old file; H rolls at the first record",
    {"version": 1, "formatters": BASIC, "handlers": {
        "w": fileh("w.log", cls="logging.handlers.TimedRotatingFileHandler", when="W3", utc=True),
        "h": fileh("h.log", cls="logging.handlers.TimedRotatingFileHandler", when="H", utc=True, backupCount=1)},
     "root": {"level": "INFO", "handlers": ["w", "h"]}}, {"records": ROT_RECS[:3], "files": {"w.log": "old w\n", "h.log": "old h\n"}, "mtime": 1794880000.0})
add("memory-capacity", "MemoryHandler flushes to its target every 3 records",
    {"version": 1, "formatters": BASIC, "handlers": {"file": fileh("mem.log"), "mem": {"class": "logging.handlers.MemoryHandler", "capacity": 3, "target": "file"}},
     "root": {"level": "INFO", "handlers": ["mem"]}})
add("memory-flush-level", "MemoryHandler flushLevel WARNING flushes at the warning record; the rest on close",
    {"version": 1, "formatters": BASIC, "handlers": {"console": console(), "mem": {"class": "logging.handlers.MemoryHandler", "capacity": 100, "flushLevel": 30, "target": "console"}},
     "root": {"level": "INFO", "handlers": ["mem"]}})
add("memory-deferred-target", "'a_mem' sorts before its target 'z_out': configured after it (deferred); shutdown flushes it despite flushOnClose false",
    {"version": 1, "formatters": BASIC, "handlers": {"z_out": console(), "a_mem": {"class": "logging.handlers.MemoryHandler", "capacity": 4, "target": "z_out", "flushOnClose": False}},
     "root": {"level": "INFO", "handlers": ["a_mem"]}})
add("memory-target-filters", "the target's filters apply to flushed records, its level does not",
    {"version": 1, "formatters": BASIC, "filters": {"ten": {"name": "10"}}, "handlers": {"out": console(level="ERROR", filters=["ten"]), "mem": {"class": "logging.handlers.MemoryHandler", "capacity": 2, "target": "out"}},
     "root": {"level": "INFO", "handlers": ["mem"]}})
add("null-handler", "a NullHandler counts as a handler: nothing printed, no lastResort",
    {"version": 1, "handlers": {"null": {"class": "logging.NullHandler"}}, "root": {"level": "INFO", "handlers": ["null"]}})
add("stream-default-stderr", "StreamHandler without stream writes to stderr; explicit ext://sys.stderr too",
    {"version": 1, "formatters": BASIC, "handlers": {"a": {"class": "logging.StreamHandler", "formatter": "basic"}, "b": console(stream="ext://sys.stderr")},
     "root": {"level": "INFO", "handlers": ["a", "b"]}})
add("terminator-property", "the '.' key sets terminator on a StreamHandler and a FileHandler",
    {"version": 1, "formatters": BASIC, "handlers": {"console": console(**{".": {"terminator": " |\n"}}), "f": fileh("f.log", **{".": {"terminator": "\r\n"}})},
     "root": {"level": "INFO", "handlers": ["console", "f"]}})
add("file-mode-w", "mode 'w' truncates an existing file",
    {"version": 1, "formatters": BASIC, "handlers": {"f": fileh("f.log", mode="w")}, "root": {"level": "INFO", "handlers": ["f"]}},
    {"files": {"f.log": "old content\n"}})
add("file-append-existing", "default mode 'a' appends to an existing file; a subdirectory path",
    {"version": 1, "formatters": BASIC, "handlers": {"f": fileh("f.log"), "g": fileh("sub/../g.log")}, "root": {"level": "INFO", "handlers": ["f", "g"]}},
    {"files": {"f.log": "old content\n"}})
add("encoding-ascii-backslashreplace", "encoding ascii with errors backslashreplace",
    {"version": 1, "formatters": BASIC, "handlers": {"f": fileh("f.log", encoding="ascii", errors="backslashreplace")}, "root": {"level": "INFO", "handlers": ["f"]}})
add("encoding-ascii-strict", "encoding ascii, strict: a non-ASCII record is dropped for that handler only",
    {"version": 1, "formatters": BASIC, "handlers": {"f": fileh("f.log", encoding="ascii"), "g": fileh("g.log")}, "root": {"level": "INFO", "handlers": ["f", "g"]}})
add("encoding-latin1-replace", "latin-1 keeps e-acute, replaces the euro and emoji",
    {"version": 1, "formatters": BASIC, "handlers": {"f": fileh("f.log", encoding="latin-1", errors="replace")}, "root": {"level": "INFO", "handlers": ["f"]}})
add("cfg-references", "cfg:// for a level and a stream (which is itself ext://sys.stdout)",
    {"version": 1, "custom": {"lvl": "WARNING", "out": "ext://sys.stdout", "levels": ["DEBUG", "INFO"]}, "formatters": BASIC,
     "handlers": {"console": console(stream="cfg://custom.out", level="cfg://custom.lvl")},
     "root": {"level": "cfg://custom[levels][1]", "handlers": ["console"]}})
add("level-names-and-ints", "WARN, FATAL and integer levels (25) are accepted",
    {"version": 1, "formatters": BASIC, "handlers": {"console": console(level=25), "f": fileh("f.log", level="FATAL")},
     "loggers": {"10": {"level": "WARN"}}, "root": {"level": 15, "handlers": ["console", "f"]}})
add("loggers-empty-name-is-root", "loggers{'': ...} configures the root logger",
    {"version": 1, "formatters": BASIC, "handlers": {"console": console()}, "loggers": {"": {"level": "INFO", "handlers": ["console"]}}})
add("same-handler-twice", "a handler on both '10' and root emits a 10.x record twice",
    {"version": 1, "formatters": BASIC, "handlers": {"console": console()},
     "loggers": {"10": {"handlers": ["console"]}}, "root": {"level": "INFO", "handlers": ["console"]}})
add("two-handlers-one-stdout", "two stdout handlers interleave per record, as Python's per-record flush does",
    {"version": 1, "formatters": {"a": {"format": "A %(message)s"}, "b": {"format": "B %(name)s"}},
     "handlers": {"one": console(fmt="a"), "two": console(fmt="b")}, "root": {"level": "INFO", "handlers": ["one", "two"]}})
add("err-no-version", "no version key", {"root": {"level": "INFO"}}, {"expect_error": "exact"})
add("err-version-2", "version 2 is unsupported", {"version": 2}, {"expect_error": "exact"})
add("err-level-lowercase", "'info' is not a level name", {"version": 1, "root": {"level": "info"}}, {"expect_error": "exact"})
add("err-unknown-formatter", "a handler names a formatter that does not exist",
    {"version": 1, "formatters": BASIC, "handlers": {"console": console(fmt="nope")}}, {"expect_error": "exact"})
add("err-unknown-handler", "a logger names a handler that does not exist",
    {"version": 1, "handlers": {}, "loggers": {"10": {"handlers": ["nope"]}}}, {"expect_error": "exact"})
add("err-missing-directory", "FileHandler into a missing directory without delay",
    {"version": 1, "handlers": {"file1": fileh("nope/x.log", fmt=None)}}, {"expect_error": "exact"})
add("err-kwarg-not-identifier", "handler keys must be Python identifiers",
    {"version": 1, "handlers": {"h": {"class": "logging.StreamHandler", "bad-key": 1}}}, {"expect_error": "exact"})
add("err-unknown-kwarg", "an argument FileHandler does not take",
    {"version": 1, "handlers": {"h": fileh("x.log", fmt=None, foo=1)}}, {"expect_error": "exact"})
add("err-unknown-class", "a class that does not exist",
    {"version": 1, "handlers": {"h": {"class": "logging.handlers.NoSuchHandler"}}}, {"expect_error": True})
add("err-bad-json", "not JSON at all", None, raw='{"version": 1, "root": {"level": "INFO",}}\n')
add("err-unknown-filter", "a handler names a filter that does not exist",
    {"version": 1, "filters": {}, "handlers": {"h": console(fmt=None, filters=["nope"])}}, {"expect_error": "exact"})
add("err-timed-bad-when", "an invalid rollover interval",
    {"version": 1, "handlers": {"t": fileh("t.log", fmt=None, cls="logging.handlers.TimedRotatingFileHandler", when="fortnight")}}, {"expect_error": "exact"})
add("err-handler-level", "a handler level that is not a level",
    {"version": 1, "handlers": {"h": console(fmt=None, level="loud")}}, {"expect_error": "exact"})
add("err-missing-class", "a handler without class",
    {"version": 1, "handlers": {"h": {"stream": "ext://sys.stdout"}}}, {"expect_error": True})
add("err-memory-unknown-target", "a MemoryHandler target that does not exist",
    {"version": 1, "handlers": {"m": {"class": "logging.handlers.MemoryHandler", "capacity": 2, "target": "nope"}}}, {"expect_error": "exact"})
add("syslog-udp-tcp", "SysLogHandler to a UDP and a TCP listener; facility local3, ident and append_nul via '.'",
    {"version": 1, "formatters": BASIC, "handlers": {
        "udp": {"class": "logging.handlers.SysLogHandler", "address": ["127.0.0.1", "@UDP_PORT@"], "facility": "local3", "formatter": "basic"},
        "tcp": {"class": "logging.handlers.SysLogHandler", "address": ["127.0.0.1", "@TCP_PORT@"], "socktype": "ext://socket.SOCK_STREAM", "formatter": "basic", ".": {"ident": "pysyslog: ", "append_nul": False}}},
     "root": {"level": "INFO", "handlers": ["udp", "tcp"]}}, {"listeners": ["udp", "tcp"]})
add("delay-missing-directory", "delay defers the open: config loads, every record for that handler is dropped",
    {"version": 1, "formatters": BASIC, "handlers": {"f": fileh("nope/x.log", delay=True), "console": console()}, "root": {"level": "INFO", "handlers": ["console", "f"]}})
add("incremental-levels-only", "incremental: only levels apply, there are no handlers: lastResort",
    {"version": 1, "incremental": True, "formatters": BASIC, "loggers": {"10": {"level": "DEBUG"}}, "root": {"level": "INFO"}})
add("watched-file", "WatchedFileHandler writes like FileHandler",
    {"version": 1, "formatters": BASIC, "handlers": {"w": fileh("w.log", cls="logging.handlers.WatchedFileHandler")}, "root": {"level": "INFO", "handlers": ["w"]}})
add("unknown-keys-ignored", "unknown top-level keys and disable_existing_loggers false are accepted",
    {"version": 1, "disable_existing_loggers": False, "whatever": {"x": 1}, "formatters": BASIC, "handlers": {"console": console()}, "root": {"level": "INFO", "handlers": ["console"]}})
add("default-formatter", "a handler without formatter uses %(message)s; a formatter without format too",
    {"version": 1, "formatters": {"empty": {}}, "handlers": {"a": console(fmt=None), "b": console(fmt="empty", stream="ext://sys.stderr")}, "root": {"level": "INFO", "handlers": ["a", "b"]}})
add("asctime-datefmt", "asctime with and without datefmt under the fixed clock",
    {"version": 1, "formatters": {"t": {"format": "%(asctime)s %(message)s"}, "d": {"format": "[%(asctime)s] %(message)s", "datefmt": "%d/%m/%Y %H:%M:%S"}},
     "handlers": {"a": console(fmt="t"), "b": fileh("d.log", fmt="d")}, "root": {"level": "INFO", "handlers": ["a", "b"]}})
add("format-error-drops-for-one-handler", "a format naming a missing attribute drops records for that handler only",
    {"version": 1, "formatters": BASIC | {"bad": {"format": "%(hostname)s %(message)s"}}, "handlers": {"good": console(), "bad": fileh("bad.log", fmt="bad")},
     "root": {"level": "INFO", "handlers": ["bad", "good"]}})
add("logging-ext-level", "ext://logging.WARNING as a level",
    {"version": 1, "formatters": BASIC, "handlers": {"console": console(level="ext://logging.WARNING")}, "root": {"level": "INFO", "handlers": ["console"]}})
add("two-handlers-one-file", "two FileHandlers on one path interleave per record, as Python's per-record flushes do",
    {"version": 1, "formatters": {"a": {"format": "A %(message)s"}, "b": {"format": "B %(name)s"}},
     "handlers": {"one": fileh("same.log", fmt="a"), "two": fileh("./same.log", fmt="b", encoding="ascii", errors="replace")},
     "root": {"level": "INFO", "handlers": ["one", "two"]}})
add("rotating-non-regular-file", "a RotatingFileHandler on /dev/null never rolls over",
    {"version": 1, "formatters": BASIC, "handlers": {"rot": fileh("/dev/null", cls="logging.handlers.RotatingFileHandler", maxBytes=10, backupCount=2), "console": console()},
     "root": {"level": "INFO", "handlers": ["rot", "console"]}})
add("handlers-as-string", "a logger's handlers given as a string is iterated by character, as Python does",
    {"version": 1, "formatters": BASIC, "handlers": {"c": console()}, "root": {"level": "INFO", "handlers": "c"}})
add("propagate-zero-and-root-key", "propagate 0 is false; loggers{'root': ...} is the root logger",
    {"version": 1, "formatters": BASIC, "handlers": {"c": console(), "e": console(stream="ext://sys.stderr")},
     "loggers": {"root": {"level": "INFO", "handlers": ["c"]}, "192.168": {"handlers": ["e"], "propagate": 0}}})
add("rotating-record-larger-than-max", "a record longer than maxBytes still gets its own file; 3.11 rolls even an empty file",
    {"version": 1, "formatters": BASIC, "handlers": {"rot": fileh("big.log", cls="logging.handlers.RotatingFileHandler", maxBytes=10, backupCount=4)},
     "root": {"level": "INFO", "handlers": ["rot"]}}, {"records": ROT_RECS[:6]})
add("cfg-whole-handler", "a whole handler section given as cfg:// into another part of the document",
    {"version": 1, "templates": {"console": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "basic"}},
     "formatters": BASIC, "handlers": {"c": "cfg://templates.console"}, "root": {"level": "INFO", "handlers": ["c"]}})
add("err-bad-style", "a formatter style that is not one of %, { and $",
    {"version": 1, "formatters": {"f": {"format": "%(message)s", "style": "#"}}}, {"expect_error": "exact"})
add("err-weekday-out-of-range", "W7 is not a weekday",
    {"version": 1, "handlers": {"t": fileh("t.log", fmt=None, cls="logging.handlers.TimedRotatingFileHandler", when="W7", delay=True)}}, {"expect_error": "exact"})
add("upstream-readme-shape", "the shape of pysyslog 0.1.0's own README config: propagate on root (ignored), DEBUG everywhere, a hyphenated handler name, a delayed file",
    {"version": 1, "root": {"level": "DEBUG", "propagate": True, "handlers": ["out"]},
     "formatters": {"short": {"format": "%(name)s %(message)s"}},
     "handlers": {"out": console(fmt="short", level="DEBUG"), "peer-file": fileh("./peer.log", fmt="short", level="DEBUG", delay=True)},
     "loggers": {"127.0.0.1": {"handlers": ["peer-file"], "level": "DEBUG", "propagate": True}}},
    {"records": [["127.0.0.1", "debug line", 10], ["127.0.0.1", "info line"], ["10.9.8.7", "elsewhere", 10]]})

with open("/work/wt-engine/tests/data/fixtures.rs", "w") as f:
    f.write("// Generated list of conformance fixtures: test name => file stem (one per tests/data/configs/*.json).\n")
    f.write("fixtures! {\n")
    for fname, comment in fx:
        ident = "f" + fname.replace("-", "_")
        f.write("    %s => %s, // %s\n" % (ident, json.dumps(fname), comment))
    f.write("}\n")
print(len(fx))
