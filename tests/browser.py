#!/usr/bin/env python3
"""Opens a report page in headless Chromium through chromedriver (WebDriver) and prints, as
JSON: the console messages, every network request the page made besides its own file, each
element with a `data-kolom` attribute (the table cells) as [table id, column, text], the
page's width at 1280 pixels, and at the width of an A4 page's print area its width and the
pages it prints on; saves a PNG screenshot and the printed PDF beside it. Used by the integration tests (tests/it/publish.rs).

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
            # A4 when printed: what the print style lays out on 210 mm less 2 x 15 mm of
            # margin (680 CSS pixels) must not be wider than that, and printing gives pages.
            call(base, "POST", s + "/window/rect", {"width": 680 + 16, "height": 1024})
            a4_width = call(base, "POST", s + "/execute/sync", {
                "script": "return [document.documentElement.scrollWidth, document.documentElement.clientWidth];",
                "args": []})
            pdf = base64.b64decode(call(base, "POST", s + "/print", {
                "page": {"width": 21.0, "height": 29.7},
                "margin": {"top": 1.5, "bottom": 1.5, "left": 1.5, "right": 1.5}}))
            with open(os.path.splitext(shot)[0] + ".pdf", "wb") as f:
                f.write(pdf)
            a4_pages = pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages")
        finally:
            call(base, "DELETE", s)
    finally:
        driver.terminate()
        driver.wait(10)
    print(json.dumps({"console": console, "requests": requests, "cells": cells, "width": width,
                      "a4": {"width": a4_width[0], "window": a4_width[1], "pages": a4_pages}}))


if __name__ == "__main__":
    main()
