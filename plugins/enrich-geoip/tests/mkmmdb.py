#!/usr/bin/env python3
"""Write the tiny MaxMind DB files the geoip tests use (Python 3 stdlib only).

There is no MMDB writer package in the build environment, so this follows the
MaxMind DB format spec (https://maxmind.github.io/MaxMind-DB/) directly:

    search tree | 16 zero bytes | data section | "\\xAB\\xCD\\xEFMaxMind.com" metadata

The tree is an IPv6 tree (ip_version 6, record_size 24); IPv4 networks live
under ::/96 as the spec describes, so libmaxminddb finds them for IPv4
lookups. Run:  python3 mkmmdb.py OUTDIR   (writes test-City.mmdb, test-ASN.mmdb)

The networks are documentation ranges plus one real address block seen in
the NSG flow-log sample (94.102.48.0/22); the values are test fixtures, not
real geolocation data.
"""
import ipaddress
import os
import struct
import sys

CITY = [
    # country + city + location
    ("203.0.113.0/24", {
        "city": {"geoname_id": 2147714, "names": {"en": "Sydney"}},
        "country": {"geoname_id": 2077456, "iso_code": "AU", "names": {"en": "Australia"}},
        "location": {"latitude": -33.8688, "longitude": 151.2093},
    }),
    # country only (no city, no location)
    ("94.102.48.0/22", {
        "country": {"geoname_id": 2750405, "iso_code": "NL", "names": {"en": "Netherlands"}},
    }),
    # IPv6 country + city
    ("2001:db8:1::/48", {
        "city": {"geoname_id": 2950159, "names": {"en": "Berlin"}},
        "country": {"geoname_id": 2921044, "iso_code": "DE", "names": {"en": "Germany"}},
        "location": {"latitude": 52.52, "longitude": 13.405},
    }),
    # a more specific network inside a less specific one
    ("198.51.100.0/24", {
        "country": {"geoname_id": 6252001, "iso_code": "US", "names": {"en": "United States"}},
    }),
    ("198.51.100.128/25", {
        "city": {"geoname_id": 5128581, "names": {"en": "New York"}},
        "country": {"geoname_id": 6252001, "iso_code": "US", "names": {"en": "United States"}},
        "location": {"latitude": 40.7128, "longitude": -74.006},
    }),
]

ASN = [
    ("203.0.113.0/24", {"autonomous_system_number": 64500,
                        "autonomous_system_organization": "Example Transit AU"}),
    ("94.102.48.0/22", {"autonomous_system_number": 202425,
                        "autonomous_system_organization": "IP Volume inc"}),
    ("2001:db8::/32", {"autonomous_system_number": 64501,
                       "autonomous_system_organization": "Example IPv6 Net"}),
]

# ------------------------------------------------------------ data section

T_POINTER, T_UTF8, T_DOUBLE, T_BYTES, T_U16, T_U32, T_MAP = 1, 2, 3, 4, 5, 6, 7
T_I32, T_U64, T_U128, T_ARRAY, T_BOOL = 8, 9, 10, 11, 14


def ctrl(typ, size):
    """Control byte(s) for a field of type typ and payload size."""
    if size < 29:
        first, extra = size, b""
    elif size < 29 + 256:
        first, extra = 29, bytes([size - 29])
    elif size < 285 + 65536:
        first, extra = 30, struct.pack(">H", size - 285)
    else:
        first, extra = 31, struct.pack(">I", size - 65821)[1:]
    if typ <= 7:
        return bytes([(typ << 5) | first]) + extra
    return bytes([first, typ - 7]) + extra


def uint_bytes(v):
    out = b""
    while v:
        out = bytes([v & 0xFF]) + out
        v >>= 8
    return out


def enc(v):
    if isinstance(v, bool):
        return ctrl(T_BOOL, 1 if v else 0)
    if isinstance(v, str):
        b = v.encode("utf-8")
        return ctrl(T_UTF8, len(b)) + b
    if isinstance(v, float):
        return ctrl(T_DOUBLE, 8) + struct.pack(">d", v)
    if isinstance(v, int):
        b = uint_bytes(v)
        if v < 1 << 32:
            return ctrl(T_U32, len(b)) + b
        return ctrl(T_U64, len(b)) + b
    if isinstance(v, dict):
        out = ctrl(T_MAP, len(v))
        for k in sorted(v):
            out += enc(k) + enc(v[k])
        return out
    if isinstance(v, list):
        out = ctrl(T_ARRAY, len(v))
        for item in v:
            out += enc(item)
        return out
    raise TypeError(type(v))


def enc_u16(v):
    b = uint_bytes(v)
    return ctrl(T_U16, len(b)) + b


# ----------------------------------------------------------- search tree

class Node:
    __slots__ = ("kids",)

    def __init__(self):
        self.kids = [None, None]  # None = empty, Node, or ("data", offset)


def net_bits(cidr):
    net = ipaddress.ip_network(cidr)
    if net.version == 4:
        value = int(net.network_address)  # ::a.b.c.d, under ::/96
        plen = 96 + net.prefixlen
    else:
        value = int(net.network_address)
        plen = net.prefixlen
    return [(value >> (127 - i)) & 1 for i in range(plen)]


def build(records, db_type, desc):
    data = b""
    offsets = {}
    root = Node()
    # least specific first, so a more specific network splits its parent
    for cidr, rec in sorted(records, key=lambda r: ipaddress.ip_network(r[0]).prefixlen):
        key = repr(sorted(rec.items()))
        if key not in offsets:
            offsets[key] = len(data)
            data += enc(rec)
        leaf = ("data", offsets[key])
        bits = net_bits(cidr)
        node = root
        for depth, bit in enumerate(bits):
            last = depth == len(bits) - 1
            kid = node.kids[bit]
            if last:
                if isinstance(kid, Node):
                    fill_empty(kid, leaf)
                else:
                    node.kids[bit] = leaf
                break
            if not isinstance(kid, Node):
                child = Node()
                if kid is not None:  # push the parent's data down both sides
                    child.kids = [kid, kid]
                node.kids[bit] = child
                kid = child
            node = kid

    # number the nodes breadth first, root = 0
    order, index = [root], {id(root): 0}
    i = 0
    while i < len(order):
        for kid in order[i].kids:
            if isinstance(kid, Node):
                index[id(kid)] = len(order)
                order.append(kid)
        i += 1
    node_count = len(order)

    def record(kid):
        if kid is None:
            return node_count
        if isinstance(kid, Node):
            return index[id(kid)]
        return node_count + 16 + kid[1]

    tree = b""
    for n in order:
        left, right = record(n.kids[0]), record(n.kids[1])
        assert left < 1 << 24 and right < 1 << 24
        tree += struct.pack(">I", left)[1:] + struct.pack(">I", right)[1:]

    meta = ctrl(T_MAP, 9)
    for k, v in [
        ("binary_format_major_version", enc_u16(2)),
        ("binary_format_minor_version", enc_u16(0)),
        ("build_epoch", ctrl(T_U64, 4) + struct.pack(">I", 1700000000)),
        ("database_type", enc(db_type)),
        ("description", enc({"en": desc})),
        ("ip_version", enc_u16(6)),
        ("languages", enc(["en"])),
        ("node_count", enc(node_count)),
        ("record_size", enc_u16(24)),
    ]:
        meta += enc(k) + v
    return tree + b"\x00" * 16 + data + b"\xab\xcd\xefMaxMind.com" + meta


def fill_empty(node, leaf):
    for b in (0, 1):
        kid = node.kids[b]
        if kid is None:
            node.kids[b] = leaf
        elif isinstance(kid, Node):
            fill_empty(kid, leaf)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "data")
    for name, recs, typ, desc in [
        ("test-City.mmdb", CITY, "GeoLite2-City", "vigil geoip test city database"),
        ("test-ASN.mmdb", ASN, "GeoLite2-ASN", "vigil geoip test ASN database"),
    ]:
        with open(os.path.join(out, name), "wb") as f:
            f.write(build(recs, typ, desc))


if __name__ == "__main__":
    main()
