"""Provider drivers written against octavia-lib alone, for the tests."""
