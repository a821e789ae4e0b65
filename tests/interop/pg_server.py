"""A throwaway PostgreSQL server for a test: initdb into a temp dir, started on a free port on
127.0.0.1 (Debian's postgresql package: /usr/lib/postgresql/<v>/bin). PostgreSQL refuses to run
as root, so as root the cluster is created and run as the `postgres` user the package creates.

    with postgres() as pg:
        pg.sql("CREATE TABLE t (x int)")
        pg.uri   # postgresql://warren@127.0.0.1:PORT/postgres

A missing server is an error (scripts/deps.txt installs it), never a skip.
"""
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager

from harness import free_port


def _bin(name):
    found = shutil.which(name)
    if found and os.path.realpath(found).startswith("/usr/lib/postgresql/"):
        return found
    cands = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if cands:
        return cands[-1]
    if found:
        return found
    raise AssertionError(f"PostgreSQL's {name} not found: install the postgresql package "
                         "(scripts/deps.txt)")


class PgServer:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="warren-pg-")
        self.port = free_port()
        self.user = "warren"
        self.uri = f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"
        self._as = []
        if os.getuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self.proc = None

    def start(self):
        data = os.path.join(self.dir, "data")
        subprocess.run(self._as + [_bin("initdb"), "-D", data, "-U", self.user, "-A", "trust",
                                   "--no-sync", "-E", "UTF8", "--locale=C"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.proc = subprocess.Popen(
            self._as + [_bin("postgres"), "-D", data, "-p", str(self.port),
                        "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.dir}",
                        "-c", "fsync=off", "-c", "synchronous_commit=off",
                        "-c", "full_page_writes=off", "-c", "max_connections=200"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, "postgres.log"), "wb"))
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("postgres exited at start: " + self.log())
            r = subprocess.run([_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if r.returncode == 0:
                return self
            time.sleep(0.1)
        raise AssertionError("postgres did not start in 30 s: " + self.log())

    def log(self):
        try:
            with open(os.path.join(self.dir, "postgres.log"), errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def sql(self, statement):
        """Runs SQL with psql; returns stdout (tuples only, unaligned, '|' between fields)."""
        r = subprocess.run([_bin("psql"), self.uri, "-v", "ON_ERROR_STOP=1", "-qAt", "-c",
                            statement], capture_output=True, text=True)
        if r.returncode != 0:
            raise AssertionError(f"psql failed: {r.stderr.strip()}\n{statement[:200]}")
        return r.stdout

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def postgres():
    pg = PgServer()
    try:
        pg.start()
        yield pg
    finally:
        pg.stop()
