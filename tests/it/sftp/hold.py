#!/usr/bin/python3
"""Opens SFTP channels on one SSH connection, then upload handles spread over them, until
the server refuses each; holds them all open until stdin closes.

Usage: hold.py HOST PORT USER KEYFILE FOLDER
Prints one JSON line: {"channels": n, "channel_refused": text, "handles": n, "handle_refused": text}.
Needs paramiko (Debian: python3-paramiko).
"""
import json
import sys

import paramiko

host, port, user, keyfile, folder = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
transport = paramiko.Transport((host, port))
transport.connect(username=user, pkey=paramiko.Ed25519Key.from_private_key_file(keyfile))
channels, handles = [], []
result = {"channel_refused": None, "handle_refused": None}
for _ in range(50):
    try:
        channels.append(paramiko.SFTPClient.from_transport(transport))
    except Exception as e:  # the server's refusal, as paramiko reports it
        result["channel_refused"] = str(e)
        break
for i in range(1000):
    try:
        handles.append(channels[i % len(channels)].open(f"{folder}/held-{i}.csv", "w"))
    except Exception as e:
        result["handle_refused"] = str(e)
        break
result["channels"], result["handles"] = len(channels), len(handles)
print(json.dumps(result), flush=True)
sys.stdin.read()
transport.close()
