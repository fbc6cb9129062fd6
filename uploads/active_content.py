"""What a browser or an operating system may run, or render as a document with scripts: the
content types, file extensions and leading bytes that no upload type may ever allow.

The lists come from IANA's media types, Apache's and Debian's mime.types and freedesktop.org's
shared-mime-info; families (``+xml``, ``multipart/*``, script names) are refused by their shape,
so that a name no list knows yet is refused too.
"""

from __future__ import annotations

import re

HTML = "browsers render it as a document that runs scripts."
XML = "browsers render XML (and any +xml type) as a document that can run scripts."
SCRIPT = "it is a script."
EXECUTABLE = "it is a program or an installer that an operating system runs."
COMPOUND = "it wraps other documents (such as a saved web page) that browsers render."
UNKNOWN = "it says nothing about what the bytes are."

# Exact types, with why; the shapes below catch their relatives.
TYPES: dict[str, str] = {
    "text/html": HTML,
    "application/xhtml+xml": "XHTML runs scripts in the browser.",
    "image/svg+xml": "SVG can carry scripts.",
    "application/octet-stream": UNKNOWN,
    "text/css": "browsers apply it as a style sheet, which can restyle and leak a page.",
    "text/x-server-parsed-html": HTML,
    "text/x-component": HTML,  # .htc: Internet Explorer behaviours, scripts
    "application/hta": "an HTML application runs with the user's rights.",
    "application/x-mimearchive": COMPOUND,  # .mht
    "application/x-shockwave-flash": "Flash runs in the page.",
    "application/vnd.adobe.flash.movie": "Flash runs in the page.",
    "application/x-silverlight-app": "Silverlight runs in the page.",
    "application/wasm": "it is a program.",
    "application/x-httpd-php": SCRIPT,
    "application/x-php": SCRIPT,
    "text/x-php": SCRIPT,
    "application/x-sh": SCRIPT,
    "text/x-sh": SCRIPT,
    "application/x-shellscript": SCRIPT,
    "text/x-shellscript": SCRIPT,
    "application/x-csh": SCRIPT,
    "text/x-csh": SCRIPT,
    "application/x-bat": SCRIPT,
    "application/bat": SCRIPT,
    "application/x-perl": SCRIPT,
    "text/x-perl": SCRIPT,
    "application/x-python": SCRIPT,
    "text/x-python": SCRIPT,
    "application/x-python-code": SCRIPT,
    "application/x-ruby": SCRIPT,
    "text/x-ruby": SCRIPT,
    "application/x-powershell": SCRIPT,
    "text/x-ms-regedit": SCRIPT,
    "application/x-msdownload": EXECUTABLE,
    "application/x-msdos-program": EXECUTABLE,
    "application/x-ms-dos-executable": EXECUTABLE,
    "application/x-dosexec": EXECUTABLE,
    "application/vnd.microsoft.portable-executable": EXECUTABLE,
    "application/x-executable": EXECUTABLE,
    "application/x-pie-executable": EXECUTABLE,
    "application/x-sharedlib": EXECUTABLE,
    "application/x-elf": EXECUTABLE,
    "application/x-mach-binary": EXECUTABLE,
    "application/x-mach-o-executable": EXECUTABLE,
    "application/x-msi": EXECUTABLE,
    "application/x-ms-installer": EXECUTABLE,
    "application/x-ms-shortcut": EXECUTABLE,
    "application/x-ms-application": EXECUTABLE,
    "application/x-apple-diskimage": EXECUTABLE,
    "application/vnd.apple.installer+xml": EXECUTABLE,
    "application/vnd.appimage": EXECUTABLE,
    "application/x-iso9660-appimage": EXECUTABLE,
    "application/x-desktop": EXECUTABLE,
    "application/java-archive": EXECUTABLE,
    "application/x-java-archive": EXECUTABLE,
    "application/java-vm": EXECUTABLE,
    "application/java": EXECUTABLE,
    "application/x-java": EXECUTABLE,
    "application/x-java-jnlp-file": EXECUTABLE,
    "application/vnd.android.package-archive": EXECUTABLE,
    "application/vnd.debian.binary-package": EXECUTABLE,
    "application/x-debian-package": EXECUTABLE,
    "application/x-rpm": EXECUTABLE,
    "application/x-redhat-package-manager": EXECUTABLE,
    "application/x-xpinstall": EXECUTABLE,
    "application/x-chrome-extension": EXECUTABLE,
    "application/vnd.symbian.install": EXECUTABLE,
}

# Media types the browser treats as script by any name: text/x-javascript, text/jscript, ...
_SCRIPT_NAME = re.compile(r"(java|ecma|j|vb|live|coffee)script")
# Types whose subtype ends in "xml", or that start "xml-" (DTDs, external entities), or XSL.
_XML_NAME = re.compile(r"(^|[+.-])xml$|^xml-|^xsl")

EXTENSIONS = frozenset(
    {
        # documents a browser renders with scripts
        *("html", "htm", "shtml", "xhtml", "xht", "mht", "mhtml", "hta", "htc", "svg", "svgz"),
        *("xml", "xsl", "xslt", "xsd", "dtd", "css", "swf", "xap", "wasm"),
        # scripts
        *("js", "mjs", "cjs", "jsx", "vbs", "vbe", "jse", "wsf", "wsh", "ps1", "psm1"),
        *("php", "phtml", "php3", "php4", "php5", "phar", "asp", "aspx", "jsp", "cgi"),
        *("sh", "bash", "csh", "ksh", "zsh", "py", "pyc", "pl", "rb", "reg", "scf", "inf"),
        # programs and installers
        *("exe", "dll", "com", "bat", "cmd", "msi", "msp", "msc", "scr", "pif", "cpl", "lnk"),
        *("application", "appx", "msix", "gadget", "jar", "jnlp", "class", "apk", "deb"),
        *("rpm", "dmg", "pkg", "mpkg", "app", "appimage", "desktop", "elf", "so", "dylib"),
        *("bin", "run", "xpi", "crx", "sis"),
    }
)


def why_active(mime: str) -> str | None:
    """Why a browser or an operating system could run or render ``mime`` as active content,
    or None. ``mime`` is a lower-cased type/subtype."""
    if mime in TYPES:
        return TYPES[mime]
    top, _, subtype = mime.partition("/")
    if top in {"multipart", "message"}:
        return COMPOUND
    if subtype.endswith("+xml") or _XML_NAME.search(subtype):
        return XML
    if "html" in subtype:
        return HTML
    if _SCRIPT_NAME.search(subtype) or subtype.endswith("-script"):
        return SCRIPT
    if "executable" in subtype or "msdownload" in subtype:
        return EXECUTABLE
    return None


def markup_or_script(head: bytes) -> bool:
    """Whether bytes start as a browser's sniffer or a shell would read markup or a script:
    a tag (``<html``, ``<!doctype``, ``<?xml``, ``<svg``, ``<script``) or a ``#!`` line,
    after any byte order mark and white space."""
    for bom in (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"):
        head = head.removeprefix(bom)
    head = head.replace(b"\x00", b"").lstrip(b" \t\r\n\x0c")
    return head.startswith((b"<", b"#!"))


# Headers of programs: Windows (MZ), Linux (ELF), macOS (Mach-O, both byte orders, and fat).
_PROGRAM_MAGIC = (
    b"MZ",
    b"\x7fELF",
    b"\xfe\xed\xfa\xce",
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",
)


def program(head: bytes) -> bool:
    """Whether bytes start as an executable program does."""
    return head.startswith(_PROGRAM_MAGIC)
