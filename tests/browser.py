#!/usr/bin/env python3
"""Opens a report page in headless Chromium through chromedriver (WebDriver) and prints, as
JSON: the console messages, every network request the page made besides its own file, each
element with a `data-kolom` attribute (the table cells) as [table id, column, text], and the
page's width;
saves a PNG screenshot. Used by the integration tests (tests/it/publish.rs).

Usage: tests/browser.py PAGE.html SCREENSHOT.png
Needs: chromium, chromium-driver (Debian packages).
"""
import base64
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())["value"]


def main():
    page, shot = os.path.abspath(sys.argv[1]), sys.argv[2]
    url = "file://" + page
    port = free_port()
    driver = subprocess.Popen(["chromedriver", f"--port={port}"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                call(base, "GET", "/status")
                break
            except OSError:
                time.sleep(0.1)
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--window-size=1280,1024", "--disable-dev-shm-usage"],
            },
            "goog:loggingPrefs": {"browser": "ALL", "performance": "ALL"},
        }}}
        session = call(base, "POST", "/session", caps)["sessionId"]
        s = f"/session/{session}"
        try:
            call(base, "POST", s + "/url", {"url": url})
            cells = call(base, "POST", s + "/execute/sync", {
                "script": "return Array.from(document.querySelectorAll('[data-kolom]'))"
                          ".map(e => [(e.closest('table') || {}).id || '', e.dataset.kolom, e.textContent]);", "args": []})
            width = call(base, "POST", s + "/execute/sync", {
                "script": "return document.documentElement.scrollWidth;", "args": []})
            console = call(base, "POST", s + "/se/log", {"type": "browser"})
            requests = []
            for entry in call(base, "POST", s + "/se/log", {"type": "performance"}):
                message = json.loads(entry["message"])["message"]
                if message["method"] == "Network.requestWillBeSent":
                    requested = message["params"]["request"]["url"]
                    if requested != url:
                        requests.append(requested)
            png = call(base, "GET", s + "/screenshot")
            with open(shot, "wb") as f:
                f.write(base64.b64decode(png))
        finally:
            call(base, "DELETE", s)
    finally:
        driver.terminate()
        driver.wait(10)
    print(json.dumps({"console": console, "requests": requests, "cells": cells, "width": width}))


if __name__ == "__main__":
    main()
