"""Training the learned text model: labelled data, fitting with scikit-learn, export, cross-validation."""
