"""``meyasubako user add NAME --role admin|approver|staff [--section ID]`` (password on stdin)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from admin.auth import MIN_PASSWORD, hash_password
from meyasubako import clock
from meyasubako.commands.common import add_db_flag, fail, open_db, settings_from
from storage import sections as sections_db
from storage import users as users_db
from storage.errors import Conflict


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("user", help="manage staff users")
    usub = p.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add = usub.add_parser("add", help="add a user; the password is read from stdin (one line, or the same line twice)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=["admin", "approver", "staff"])
    add.add_argument("--section", help="section id (required for staff)")
    add_db_flag(add)
    add.set_defaults(func=run_add)


def read_password(stream) -> str:  # type: ignore[no-untyped-def]
    lines = [ln.rstrip("\r\n") for ln in stream.read(10_000).splitlines()]
    lines = [ln for ln in lines if ln != ""] or [""]
    if len(lines) > 2 or (len(lines) == 2 and lines[0] != lines[1]):
        raise ValueError("the two password lines differ")
    return lines[0]


def run_add(args: argparse.Namespace) -> int:
    name = args.name.strip()
    if not name or len(name) > 64 or any(c.isspace() for c in name):
        return fail("NAME must be 1-64 characters without spaces")
    if args.role == "staff" and not args.section:
        return fail("--section is required for role staff")
    try:
        password = read_password(sys.stdin)
    except ValueError as exc:
        return fail(str(exc))
    if len(password) < MIN_PASSWORD:
        return fail(f"the password must be at least {MIN_PASSWORD} characters")
    return asyncio.run(_add(args, name, hash_password(password)))


async def _add(args: argparse.Namespace, name: str, password_hash: str) -> int:
    async with open_db(settings_from(args)) as db:
        async with db.read() as conn:
            known = {s.id for s in await sections_db.all_sections(conn)}
        if args.section and args.section not in known:
            return fail(f"unknown section {args.section!r}; known: {', '.join(sorted(known))}")

        async def job(conn):  # type: ignore[no-untyped-def]
            return await users_db.add(conn, name=name, password_hash=password_hash, role=args.role,
                                      section=args.section, now=clock.iso(clock.jst_now()))

        try:
            user = await db.write(job)
        except Conflict:
            return fail(f"user {name!r} already exists")
    print(f"added user {user.name} (role={user.role}{', section=' + user.section if user.section else ''})")
    return 0
