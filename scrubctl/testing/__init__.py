"""Test helpers a deleter's own test suite can import (they need pytest): the deleter contract."""
