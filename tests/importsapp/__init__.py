"""Task modules outside any app's tasks.py, for tests/test_task_imports.py: not an
installed app, and imported only where a test lists them in TASKQUEUE["IMPORTS"]."""
