"""The client matrix's Python clients: paramiko and asyncssh, driven through the flows a
supplier's script or a GUI client goes through, as those libraries' users write them.

usage: clients.py paramiko|asyncssh HOST PORT KEY WORKDIR TOWN_KEY

WORKDIR holds the files to send (put.csv, over.csv, big.bin, small.csv, w.csv) and
receives bundle.zip. Prints one JSON object of what the client saw; the test checks the
server's side. Exits non-zero (with the traceback) on any failure.
"""

import asyncio
import json
import os
import socket
import sys

client, host, port, key, work, town_key = sys.argv[1:7]
port = int(port)
prefix = client[0]  # "p" or "a": each client's own names
UPLOAD = "/alpha/upload"
MTIME = 1_600_000_000
CUT_AT = 80_000


def local(name):
    with open(os.path.join(work, name), "rb") as f:
        return f.read()


def run_paramiko():
    import paramiko

    def connect(user, key_path):
        sock = socket.create_connection((host, port))
        transport = paramiko.Transport(sock)
        transport.connect(username=user, pkey=paramiko.Ed25519Key.from_private_key_file(key_path))
        return sock, transport, paramiko.SFTPClient.from_transport(transport)

    seen = {}
    sock, transport, sftp = connect("vendor", key)
    sftp.chdir(UPLOAD)
    # put, then put over the waiting name: paramiko checks the size after each.
    sftp.put(os.path.join(work, "put.csv"), f"{prefix}-put.csv")
    sftp.put(os.path.join(work, "over.csv"), f"{prefix}-put.csv")
    sftp.utime(f"{prefix}-put.csv", (MTIME, MTIME))
    seen["mtime"] = sftp.stat(f"{prefix}-put.csv").st_mtime
    # An upload under a temporary name, cut off: the connection dies mid-file.
    big = local("big.bin")
    f = sftp.open(f"{prefix}-big.csv.filepart", "wb")
    f.write(big[:CUT_AT])
    f.flush()
    sock.shutdown(socket.SHUT_RDWR)
    sock.close()
    transport.close()
    # Resumed on a new connection, as WinSCP does: size, append, rename onto the name.
    sock, transport, sftp = connect("vendor", key)
    sftp.chdir(UPLOAD)
    have = sftp.stat(f"{prefix}-big.csv.filepart").st_size
    seen["resumed_from"] = have
    with sftp.open(f"{prefix}-big.csv.filepart", "ab") as f:
        f.write(big[have:])
    sftp.posix_rename(f"{prefix}-big.csv.filepart", f"{prefix}-big.csv")
    # Cancel then clean up: a small file sent straight to its name, and a temporary one.
    with sftp.open(f"{prefix}-small.csv", "wb") as f:
        f.write(local("small.csv")[:100])
    sftp.remove(f"{prefix}-small.csv")
    with sftp.open(f"{prefix}-cancel.csv.filepart", "wb") as f:
        f.write(big[:10_000])
    sftp.remove(f"{prefix}-cancel.csv.filepart")
    # Withdraw a waiting delivery.
    sftp.put(os.path.join(work, "w.csv"), f"{prefix}-w.csv")
    sftp.remove(f"{prefix}-w.csv")
    seen["listing"] = sorted(sftp.listdir("."))
    transport.close()
    # Download from the outbox.
    _, transport, sftp = connect("town", town_key)
    sftp.get("/town/outbox/bundle.zip", os.path.join(work, f"{prefix}-bundle.zip"))
    transport.close()
    return seen


async def run_asyncssh():
    import asyncssh

    def connect(user, key_path):
        return asyncssh.connect(
            host, port, username=user, client_keys=[key_path], known_hosts=None, agent_path=None
        )

    seen = {}
    big = local("big.bin")
    async with connect("vendor", key) as conn:
        async with conn.start_sftp_client() as sftp:
            await sftp.makedirs(UPLOAD, exist_ok=True)
            await sftp.chdir(UPLOAD)
            await sftp.put(os.path.join(work, "put.csv"), f"{prefix}-put.csv")
            await sftp.put(os.path.join(work, "over.csv"), f"{prefix}-put.csv")
            await sftp.utime(f"{prefix}-put.csv", (MTIME, MTIME))
            seen["mtime"] = (await sftp.stat(f"{prefix}-put.csv")).mtime
            vfs = await sftp.statvfs(UPLOAD)
            seen["df"] = {"total": vfs.blocks * vfs.frsize, "free": vfs.bavail * vfs.frsize}
            f = await sftp.open(f"{prefix}-big.csv.filepart", "wb")
            await f.write(big[:CUT_AT])
            # Cut off: the connection goes without closing the file.
            conn.abort()
    async with connect("vendor", key) as conn:
        async with conn.start_sftp_client() as sftp:
            await sftp.chdir(UPLOAD)
            have = (await sftp.stat(f"{prefix}-big.csv.filepart")).size
            seen["resumed_from"] = have
            async with sftp.open(f"{prefix}-big.csv.filepart", "ab") as f:
                await f.write(big[have:])
            await sftp.posix_rename(f"{prefix}-big.csv.filepart", f"{prefix}-big.csv")
            async with sftp.open(f"{prefix}-small.csv", "wb") as f:
                await f.write(local("small.csv")[:100])
            await sftp.remove(f"{prefix}-small.csv")
            async with sftp.open(f"{prefix}-cancel.csv.filepart", "wb") as f:
                await f.write(big[:10_000])
            await sftp.remove(f"{prefix}-cancel.csv.filepart")
            await sftp.put(os.path.join(work, "w.csv"), f"{prefix}-w.csv")
            await sftp.remove(f"{prefix}-w.csv")
            seen["listing"] = sorted(await sftp.listdir("."))
    async with connect("town", town_key) as conn:
        async with conn.start_sftp_client() as sftp:
            await sftp.get("/town/outbox/bundle.zip", os.path.join(work, f"{prefix}-bundle.zip"))
    return seen


if client == "paramiko":
    result = run_paramiko()
elif client == "asyncssh":
    result = asyncio.run(run_asyncssh())
else:
    sys.exit(f"unknown client {client}")
print(json.dumps(result))
