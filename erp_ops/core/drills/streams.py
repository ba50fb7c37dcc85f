"""Reading backup files as streams: SHA-256, gpg decryption, multi-member gunzip, tar listing.

Nothing is ever decompressed or decrypted to disk. Frappe's dump is two gzip members (its own
`-- begin frappe metadata` header, then `mysqldump | gzip >>`), so the reader walks members.
"""

import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

from erp_ops.core.drills.errors import ClientMissing, StreamError

CHUNK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"


def sha256_file(path: str) -> str:
	"""SHA-256 of a file, read in 1 MiB chunks."""
	digest = hashlib.sha256()
	with open(path, "rb") as f:
		while chunk := f.read(CHUNK):
			digest.update(chunk)
	return digest.hexdigest()


def is_gpg_encrypted(path: str) -> bool:
	"""True unless the file starts like a gzip/tar: Frappe keeps `-enc` names even when gpg failed."""
	with open(path, "rb") as f:
		head = f.read(512)
	if head[:2] == GZIP_MAGIC or (len(head) >= 262 and head[257:262] == b"ustar"):
		return False
	return bool(head)


@contextmanager
def open_source(path: str, encryption_key: str | None = None) -> Iterator["ByteSource"]:
	"""The file's bytes, decrypted on the fly by gpg when it is encrypted."""
	if not is_gpg_encrypted(path):
		with open(path, "rb") as f:
			yield ByteSource(f.read, path)
		return
	if not encryption_key:
		raise StreamError(
			"encryption_key_missing",
			f"{os.path.basename(path)} is gpg-encrypted and no backup_encryption_key was given",
		)
	gpg = shutil.which("gpg")
	if not gpg:
		raise ClientMissing("gpg is not installed: it is needed to read an encrypted backup")
	with tempfile.TemporaryDirectory(prefix="erp_ops_gpg_") as home:
		read_fd, write_fd = os.pipe()
		os.write(write_fd, encryption_key.encode() + b"\n")  # a key is far below the pipe buffer
		os.close(write_fd)
		proc = subprocess.Popen(
			[
				gpg,
				"--batch",
				"--quiet",
				"--homedir",
				home,
				"--pinentry-mode",
				"loopback",
				"--passphrase-fd",
				str(read_fd),
				"--decrypt",
				path,
			],
			stdin=subprocess.DEVNULL,
			stdout=subprocess.PIPE,
			stderr=subprocess.PIPE,
			pass_fds=(read_fd,),
		)
		os.close(read_fd)
		source = ByteSource(proc.stdout.read, path, proc)
		try:
			yield source
			source.finish()
		finally:
			if proc.poll() is None:
				proc.kill()
			proc.wait()
			proc.stdout.close()
			proc.stderr.close()
			# gpg starts an agent per home folder; it would outlive the deleted folder for minutes.
			subprocess.run(
				["gpgconf", "--homedir", home, "--kill", "gpg-agent"], capture_output=True, timeout=30
			)


class ByteSource:
	"""A readable byte stream; for gpg, `finish()` turns its exit status into a precise error."""

	def __init__(self, read, path: str, proc: subprocess.Popen | None = None):
		self._read = read
		self.path = path
		self.proc = proc
		self.eof = False

	def read(self, size: int) -> bytes:
		data = self._read(size)
		if not data:
			self.eof = True
		return data

	def finish(self) -> None:
		"""Raise when the decrypting process failed (wrong key, damaged file).

		Before the end of the stream a running gpg is left alone: waiting for it would block
		forever on its full stdout pipe (`open_source` kills it on the way out)."""
		if self.proc is None:
			return
		if not self.eof and self.proc.poll() is None:
			return
		rc = self.proc.wait()
		if rc != 0:
			err = self.proc.stderr.read().decode(errors="replace").strip()
			if "bad session key" in err.lower() or "bad passphrase" in err.lower():
				raise StreamError(
					"wrong_encryption_key", f"{os.path.basename(self.path)}: wrong encryption key ({err})"
				)
			raise StreamError("decryption_failed", f"{os.path.basename(self.path)}: gpg failed: {err}")


def gunzip_chunks(source: ByteSource, read_size: int = CHUNK) -> Iterator[bytes]:
	"""Decompressed chunks of a (multi-member) gzip stream; raises StreamError when it is damaged.

	zlib checks each member's CRC-32 and length, so a flipped byte or a cut file is always found
	by the time the last chunk is read.
	"""
	name = os.path.basename(source.path)
	decomp = zlib.decompressobj(31)
	in_member = False
	members = 0
	offset = 0
	while True:
		try:
			data = source.read(read_size)
		except OSError as exc:
			raise StreamError("read_failed", f"{name}: read failed at byte {offset}: {exc}") from exc
		if not data:
			break
		offset += len(data)
		while data:
			if not in_member and members and not data.strip(b"\0"):
				data = b""  # zero padding after the last member, as gzip(1) tolerates
				break
			in_member = True
			try:
				out = decomp.decompress(data)
			except zlib.error as exc:
				source.finish()  # a wrong key explains garbage better than zlib does
				raise StreamError(
					"corrupt_gzip",
					f"{name}: corrupted gzip: {_zlib_cause(exc)} in member {members + 1}, "
					f"near compressed byte {offset}",
					{"zlib_error": str(exc), "member": members + 1, "compressed_offset": offset},
				) from exc
			if out:
				yield out
			if decomp.eof:
				members += 1
				in_member = False
				data = decomp.unused_data
				decomp = zlib.decompressobj(31)
			else:
				data = b""
	source.finish()
	if in_member:
		raise StreamError(
			"truncated_gzip", f"{name}: truncated: the gzip stream ends mid-member after {offset} bytes"
		)
	if not members:
		raise StreamError("empty_file", f"{name}: empty file (0 gzip members)")


def _zlib_cause(exc: zlib.error) -> str:
	"""zlib's words for the two end-of-member checks gzip(1) reports, else its own message."""
	text = str(exc)
	if "incorrect data check" in text:
		return "CRC-32 mismatch (the data differs from what was compressed)"
	if "incorrect length check" in text:
		return "length mismatch (ISIZE)"
	return text.replace("Error -3 while decompressing data: ", "invalid deflate data: ")


def check_gzip(path: str, encryption_key: str | None = None) -> int:
	"""Decompress to nowhere; the uncompressed size, or StreamError when the file is damaged."""
	total = 0
	with open_source(path, encryption_key) as source:
		for chunk in gunzip_chunks(source):
			total += len(chunk)
	return total


def peek_sql(path: str, encryption_key: str | None = None, limit: int = 64 * 1024) -> bytes:
	"""The first `limit` bytes of a dump's SQL (its headers), without reading the rest."""
	head = b""
	with open_source(path, encryption_key) as source:
		for chunk in gunzip_chunks(source, 16 * 1024):
			head += chunk
			if len(head) >= limit:
				break
	return head[:limit]


class TarListing(NamedTuple):
	files: int
	size: int
	# The site folders the members sit in: `./<site>/public/files/…` as `bench backup` writes them.
	sites: frozenset[str]


def site_of_member(name: str) -> str | None:
	"""`<site>` of a member named `[./]<site>/(public|private)/files[/…]`, else None."""
	parts = [p for p in name.split("/") if p not in ("", ".")]
	for i in range(1, len(parts) - 1):
		if parts[i] in ("public", "private") and parts[i + 1] == "files":
			return parts[i - 1]
	return None


def count_tar_files(path: str, encryption_key: str | None = None) -> tuple[int, int]:
	"""(regular files, total bytes) of a tar/tgz archive read as a stream; StreamError when damaged."""
	listing = list_tar(path, encryption_key)
	return listing.files, listing.size


def list_tar(path: str, encryption_key: str | None = None) -> TarListing:
	"""Files, bytes and the site folders of a tar/tgz read as a stream; StreamError when damaged."""
	name = os.path.basename(path)
	files = size = 0
	sites: set[str] = set()
	with open_source(path, encryption_key) as source:
		reader = _Reader(source)
		try:
			with tarfile.open(fileobj=reader, mode="r|*") as archive:
				for member in archive:
					site = site_of_member(member.name)
					if site:
						sites.add(site)
					if member.isfile():
						files += 1
						size += member.size
			reader.drain()
		except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
			source.finish()
			raise StreamError("corrupt_archive", f"{name}: archive does not list cleanly: {exc}") from exc
		source.finish()
		# tarfile stops quietly at a cut between two members; tar(1) always ends an archive with
		# two zero blocks, so a plain tar that lacks them was cut.
		if reader.plain_tar and (reader.total % 512 or reader.tail.count(0) < 1024):
			raise StreamError(
				"corrupt_archive", f"{name}: truncated: no end-of-archive blocks after {reader.total} bytes"
			)
	return TarListing(files, size, frozenset(sites))


class _Reader:
	"""The file-like face tarfile's stream mode needs; remembers the size and the last 1 KiB."""

	def __init__(self, source: ByteSource):
		self._source = source
		self.total = 0
		self.tail = b""
		self.plain_tar: bool | None = None

	def read(self, size: int = -1) -> bytes:
		data = self._source.read(size if size >= 0 else CHUNK)
		if self.plain_tar is None and data:
			self.plain_tar = data[:2] != GZIP_MAGIC
		self.total += len(data)
		self.tail = (self.tail + data)[-1024:]
		return data

	def drain(self) -> None:
		"""Read what tarfile left after the end marker (tar pads to its record size)."""
		while self.read(CHUNK):
			pass
