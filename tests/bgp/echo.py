#!/usr/bin/env python3
"""Long-lived TCP flows for the site test (tests/bgp/test_site.sh), bytes in both directions.

  echo.py serve NAME ADDRESS PORT          a backend: answers each 64-byte message with NAME + it
  echo.py talk VIP PORT SPORT DIR           a client from source port SPORT: one exchange every 50 ms,
                                           from DIR/ready.SPORT (written after the first exchange)
                                           until DIR/stop appears (60 s at most)

Why not an HTTP download: a client that only receives sends nothing once its node dies, so
the router never gets a packet of that connection to move to the other node; a conversation
sends every 50 ms, as a real interactive flow does. `talk` prints
"exchanges N backends b1[,b2] error TEXT" and exits 0 when it lasted until DIR/stop without error.
"""
import os
import socket
import sys
import threading
import time

MSG = 64


def read_exactly(c, n):
    buf = b""
    while len(buf) < n:
        d = c.recv(n - len(buf))
        if not d:
            raise ConnectionError("closed by peer")
        buf += d
    return buf


def serve(name, address, port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((address, int(port)))
    s.listen(64)

    def handle(c):
        try:
            while True:
                c.sendall(name.encode().ljust(4)[:4] + read_exactly(c, MSG))
        except OSError:
            pass
        finally:
            c.close()

    while True:
        c, _ = s.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()


def talk(vip, port, sport, directory):
    n, backends, error = 0, [], ""
    try:
        c = socket.socket()
        c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        c.bind(("0.0.0.0", int(sport)))
        c.settimeout(8)
        c.connect((vip, int(port)))
        end = time.monotonic() + 60
        while time.monotonic() < end and not os.path.exists(os.path.join(directory, "stop")):
            c.sendall(b"x" * MSG)
            name = read_exactly(c, 4 + MSG)[:4].decode().strip()
            if name not in backends:
                backends.append(name)
            if n == 0:
                open(os.path.join(directory, "ready." + sport), "w").close()
            n += 1
            time.sleep(0.05)
        c.close()
    except Exception as e:  # noqa: BLE001 - any failure is the answer
        error = type(e).__name__ + ": " + str(e)
    print(f"exchanges {n} backends {','.join(backends) or '-'} error {error or '-'}")
    return 0 if not error else 1


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(*sys.argv[2:5])
    else:
        sys.exit(talk(*sys.argv[2:6]))
