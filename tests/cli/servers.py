"""Test support: a real redis-server or PostgreSQL server from the Debian packages, bound to
127.0.0.1 on a free port, with its data in a temporary directory, stopped when the test is done
(and by the kernel if the test process dies). A missing program raises an error naming the
package: a test that needs a server fails, it never passes silently.

As root, PostgreSQL (which refuses to run as root) runs as the `postgres` user (or `nobody`)."""
import ctypes
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

PR_SET_PDEATHSIG = 1


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_program(name, package):
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2]), reverse=True)
    for d in dirs + os.environ.get("PATH", "").split(":"):
        p = os.path.join(d, name)
        if d and os.access(p, os.X_OK):
            return p
    raise RuntimeError(f"the test needs the program '{name}' (Debian package {package}), which is not "
                       f"installed: run scripts/deps.sh test")


def _unprivileged():
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pw = pwd.getpwnam(name)
            return pw.pw_uid, pw.pw_gid
        except KeyError:
            pass
    raise RuntimeError("running as root, but neither the user 'postgres' nor 'nobody' exists")


def _preexec(user, sig):
    def run():
        if user is not None:
            os.setgroups([])
            os.setgid(user[1])
            os.setuid(user[0])
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, sig)
    return run


class _server:
    def __init__(self, tag):
        self.dir = tempfile.mkdtemp(prefix=f"sincehash-{tag}-")
        self.proc = None
        self.log = os.path.join(self.dir, f"{tag}.log")

    def _start(self, argv_for, user, stop_signal, ready_text, name):
        """Starts the server on a free port, up to 5 times: another process may take the port
        between free_port() and the server's bind. Ready once its log says `ready_text`."""
        self.stop_signal = stop_signal
        failures = []
        for attempt in range(5):
            self.port = free_port()
            self.log = os.path.join(self.dir, f"{name}-{attempt}.log")
            with open(self.log, "ab") as log:
                self.proc = subprocess.Popen(argv_for(self.port), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                             preexec_fn=_preexec(user, stop_signal))
            deadline = time.monotonic() + 60
            while ready_text not in self.tail(None):
                if self.proc.poll() is not None:
                    failures.append(f"{name} exited while starting:\n{self.tail()}")
                    break
                if time.monotonic() > deadline:
                    failures.append(f"{name} did not become ready within 60 s:\n{self.tail()}")
                    self.proc.kill()
                    self.proc.wait()
                    break
                time.sleep(0.02)
            else:
                return
        self.proc = None
        raise RuntimeError(f"{name} could not be started on 127.0.0.1:\n" + "\n".join(failures))

    def tail(self, limit=2000):
        try:
            with open(self.log, errors="replace") as f:
                text = f.read()
                return text if limit is None else text[-limit:]
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(self.stop_signal)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class redis_server(_server):
    def __init__(self):
        super().__init__("redis")
        try:
            binary = find_program("redis-server", "redis-server")
            self._start(lambda port: [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", self.dir,
                                      "--save", "", "--appendonly", "no", "--protected-mode", "yes",
                                      "--daemonize", "no"],
                        None, signal.SIGTERM, "Ready to accept connections", "redis-server")
        except BaseException:
            self.stop()
            raise

    def uri(self, db=0):
        return f"redis://127.0.0.1:{self.port}/{db}"


class postgres_server(_server):
    def __init__(self, durable=False):
        super().__init__("postgres")
        try:
            initdb = find_program("initdb", "postgresql")
            postgres = find_program("postgres", "postgresql")
            user = _unprivileged()
            if user is not None:
                os.chown(self.dir, user[0], user[1])
            data = os.path.join(self.dir, "data")
            with open(self.log, "ab") as log:
                r = subprocess.run([initdb, "-D", data, "-U", "sincehash", "-A", "trust", "-E", "UTF8",
                                    "--locale=C", "--no-sync", "--no-instructions"],
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                   preexec_fn=_preexec(user, signal.SIGTERM))
            if r.returncode != 0:
                raise RuntimeError(f"initdb failed:\n{self.tail()}")
            def argv(port):
                a = [postgres, "-D", data, "-p", str(port), "-c", "listen_addresses=127.0.0.1",
                     "-c", f"unix_socket_directories={self.dir}", "-c", "max_connections=60",
                     "-c", "shared_buffers=64MB"]
                if not durable:
                    for o in ("fsync=off", "synchronous_commit=off", "full_page_writes=off"):
                        a += ["-c", o]
                return a
            self._start(argv, user, signal.SIGINT, "database system is ready to accept connections", "postgres")
        except BaseException:
            self.stop()
            raise

    def uri(self, database="postgres"):
        return f"postgresql://sincehash@127.0.0.1:{self.port}/{database}"
