from pathlib import Path

from setuptools import find_packages, setup

here = Path(__file__).parent
version = {}
for line in (here / "httpcache" / "__init__.py").read_text().splitlines():
    if line.startswith("__version__"):
        version["v"] = line.split("=", 1)[1].strip().strip('"')

setup(
    name="httpcache",
    version=version["v"],
    description="An RFC 9111 HTTP cache for requests: correct, thread-safe, fast on a hit.",
    long_description=(here / "README.rst").read_text(encoding="utf-8"),
    long_description_content_type="text/x-rst",
    license="Apache-2.0",
    packages=find_packages(include=["httpcache", "httpcache.*"]),
    package_data={"httpcache": ["py.typed"]},
    python_requires=">=3.9",
    install_requires=["requests>=2.25"],
    extras_require={
        "redis": ["redis>=4.2"],
        # httpbin + gunicorn: the real origin of tests/test_e2e_httpbin.py (gunicorn picks its own
        # release for Python 3.9); nginx comes from the system (.ci/run installs nginx-light)
        "test": ["pytest>=7", "responses>=0.23", "hypothesis>=6", "redis>=4.2", "httpbin>=0.10", "gunicorn>=20.1"],
        "dev": [
            "pytest>=7",
            "responses>=0.23",
            "hypothesis>=6",
            "redis>=4.2",
            "httpbin>=0.10",
            "gunicorn>=20.1",
            "mypy>=1.8",
            "ruff>=0.4",
            "types-requests",
        ],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3.9",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
        "Typing :: Typed",
    ],
    entry_points={"console_scripts": ["httpcache = httpcache._cli:main", "doesitcache = httpcache._cli:doesitcache"]},
    zip_safe=False,
)
