"""Quality metrics for trained generators: image distances, the judging classifier, FID/KID, ground truth.

Images are float arrays in [-1, 1] (the models' range) unless a function says otherwise.
"""
