"""Frame sources: picamera2, OpenCV (V4L2 / RTSP / files), image files."""
