"""edgecam: a Raspberry Pi camera smart sensor (ncnn YOLO detection → MQTT / Home Assistant).

Importing the package is cheap: heavy libraries (ncnn, cv2, paho, picamera2) are imported only
inside the plugin modules that need them.
"""

__version__ = "0.1.0"
