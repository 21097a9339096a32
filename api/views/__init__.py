"""The API's views, one module per resource; api/urls.py wires them to paths."""
