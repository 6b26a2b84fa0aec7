"""rosbag2 tools: make-bag, bag-eval (ROS-free, with rosbags)."""
