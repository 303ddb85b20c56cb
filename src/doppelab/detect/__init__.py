"""Deepfake detection: detectors behind one contract, fusion, prediction, evaluation."""
