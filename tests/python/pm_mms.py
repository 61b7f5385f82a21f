#!/usr/bin/env python3
"""python-messaging (PyPI 0.5.13) as an independent MMS encoder and decoder for mmsc's tests
(tests/tests/python_messaging.rs). Run with the repository's .venv:

    pm_mms.py encode OUT.mms --to +358401234567 --tid T1 --subject S --image IMG.jpg [--version 1.0]
        Build an m-send-req with messaging.mms.message.MMSMessage: two slides (an image and
        text, then text only), write it to OUT.mms, and print a JSON manifest of what was put
        in: {"headers": {...}, "parts": [{"content_type", "headers", "data_hex"}]} - the parts
        in the order python-messaging encodes them (its SMIL first).

    pm_mms.py decode IN.mms
        Decode a PDU with MMSMessage.from_data and print {"headers": {...}, "parts": [...]}
        in the same form.

Workarounds for python-messaging 0.5.13 under Python 3, all through its public API: it reads
image files in text mode and writes each data character with ord(), so binary data is handed
to DataPart.set_data as a latin-1 string (one character per octet); it cannot encode
Content-Type parameters (dict_keys.sort) nor X-Mms-Message-Class, so none are used.
"""

import argparse
import json
import os
import sys

from messaging.mms.message import DataPart, MMSMessage, MMSMessagePage


def as_bytes(data):
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode("latin-1")
    return bytes(data)


def plain(v):
    """A header value as JSON: tuples (content type, params) as lists, the rest as str/int."""
    if isinstance(v, tuple):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, (list,)):
        return [plain(x) for x in v]
    if isinstance(v, (int, float)):
        return v
    if isinstance(v, bytes):
        return v.decode("latin-1")
    return str(v)


def describe(parts):
    out = []
    for p in parts:
        headers = {k: plain(v) for k, v in p.headers.items() if k != "Content-Type"}
        out.append(
            {
                "content_type": p.content_type,
                "headers": headers,
                "data_hex": as_bytes(p.data).hex(),
            }
        )
    return out


def encode(args):
    with open(args.image, "rb") as f:
        jpeg = f.read()
    m = MMSMessage()
    m.headers["Transaction-Id"] = args.tid
    m.headers["MMS-Version"] = args.version
    m.headers["To"] = args.to + "/TYPE=PLMN"
    m.headers["Subject"] = args.subject

    slide1 = MMSMessagePage()
    slide1.add_image(args.image)
    image = slide1.image[0]
    image.set_data(jpeg.decode("latin-1"), "image/jpeg")
    image.headers["Content-Location"] = os.path.basename(args.image)
    slide1.add_text("Hello from python-messaging, slide 1")
    m.add_page(slide1)

    slide2 = MMSMessagePage()
    # UTF-8 octets, one character per octet (see the module docstring).
    slide2.add_text("Toinen dia: hyvää päivää".encode("utf-8").decode("latin-1"))
    slide2.set_duration(3000)
    m.add_page(slide2)

    # The encoder consumes some headers; keep what was asked for the manifest.
    headers = {k: plain(v) for k, v in m.headers.items()}
    data = m.encode()
    with open(args.out, "wb") as f:
        f.write(bytes(data))

    # What python-messaging encoded, part by part: its SMIL, then each slide's parts.
    smil = DataPart()
    smil.set_data(m.smil(), "application/smil")
    smil.headers["Content-ID"] = "<0000>"
    parts = [smil]
    for page in m.pages:
        for t in (page.image, page.audio, page.text):
            if t is not None:
                parts.append(t[0])
    json.dump(
        {"headers": headers, "parts": describe(parts)},
        sys.stdout,
    )
    print()


def decode(args):
    with open(args.file, "rb") as f:
        data = f.read()
    m = MMSMessage.from_data(data)
    json.dump(
        {"headers": {k: plain(v) for k, v in m.headers.items()}, "parts": describe(m.data_parts)},
        sys.stdout,
    )
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("encode")
    e.add_argument("out")
    e.add_argument("--to", required=True)
    e.add_argument("--tid", required=True)
    e.add_argument("--subject", required=True)
    e.add_argument("--image", required=True)
    e.add_argument("--version", default="1.2", help='X-Mms-MMS-Version, e.g. "1.0"')
    d = sub.add_parser("decode")
    d.add_argument("file")
    args = ap.parse_args()
    if args.cmd == "encode":
        encode(args)
    else:
        decode(args)


if __name__ == "__main__":
    main()
