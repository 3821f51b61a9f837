"""Trellis tests; a package so handlers defined here can be named as ``tests.module:function``."""
