#!/usr/bin/env python3
"""Writes Buf registry requests in the protobuf binary encoding for the
benchmark harness (scripts/bench.sh), which POSTs them with curl or
bench/load, and reads the commit id out of an upload's response.

  bufreq.py create OWNER MODULE...         ModuleService/CreateModules
  bufreq.py chain OWNER PREFIX N           UploadService/Upload of modules PREFIX0..N-1,
                                           each importing the one before
  bufreq.py upload OWNER MODULE FILES SALT UploadService/Upload of FILES .proto files
  bufreq.py download COMMIT                DownloadService/Download of every file
  bufreq.py commits OWNER MODULE LABEL     CommitService/GetCommits by label
  bufreq.py graph COMMIT                   GraphService/GetGraph
  bufreq.py commit-id < UPLOAD-RESPONSE    the first commit's id

Requests go to stdout. Field numbers are those of buf.registry.module.v1.
"""
import sys


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num, payload):
    if isinstance(payload, str):
        payload = payload.encode()
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def module_ref(owner, module):
    return field(2, field(1, owner) + field(2, module))


def big_module(n, salt):
    files = b""
    for i in range(n):
        src = (f'syntax = "proto3";\npackage big.v{i};\n// {salt}\n'
               f"message M{i} {{ string id = 1; int64 n = 2; repeated string tags = 3; }}\n")
        files += field(2, field(1, f"big/v{i // 100}/m{i}.proto") + field(2, src))
    return files


def chain(owner, prefix, n):
    contents = b""
    for i in range(n):
        name = f"{prefix}{i}"
        src = f'syntax = "proto3";\npackage {name};\n'
        if i > 0:
            src += f'import "{prefix}{i - 1}.proto";\n'
        src += f"message M {{ string id = 1; }}\n"
        contents += field(1, field(1, module_ref(owner, name)) + field(2, field(1, f"{name}.proto") + field(2, src)))
    return contents


def read_field(buf, pos):
    key, pos = read_varint(buf, pos)
    size, pos = read_varint(buf, pos)
    return key >> 3, buf[pos:pos + size], pos + size


def read_varint(buf, pos):
    shift = n = 0
    while True:
        b = buf[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, pos


def commit_id(resp):
    num, commit, _ = read_field(resp, 0)
    assert num == 1, "no commit in the response"
    pos = 0
    while pos < len(commit):
        num, value, pos = read_field(commit, pos)
        if num == 1:
            return value.decode()
    raise SystemExit("bufreq: the commit has no id")


def main(args):
    cmd = args[0]
    out = sys.stdout.buffer
    if cmd == "create":
        out.write(b"".join(field(1, field(1, field(2, args[1])) + field(2, name)) for name in args[2:]))
    elif cmd == "chain":
        out.write(chain(args[1], args[2], int(args[3])))
    elif cmd == "upload":
        out.write(field(1, field(1, module_ref(args[1], args[2])) + big_module(int(args[3]), args[4])))
    elif cmd == "download":
        out.write(field(1, field(1, field(1, args[1]))))
    elif cmd == "commits":
        out.write(field(1, field(2, field(1, args[1]) + field(2, args[2]) + field(3, args[3]))))
    elif cmd == "graph":
        out.write(field(1, field(1, args[1])))
    elif cmd == "commit-id":
        print(commit_id(sys.stdin.buffer.read()))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
