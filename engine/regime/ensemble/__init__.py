"""The workbook's regime ensemble (EnsembleMethods): HMM, GMM, random forest and gradient boosting
trained walk-forward on the rule-based classifier's labels, voted with the workbook's weights, with
calibrated confidence (ConfidenceCalibration) and an "uncertain" answer (RiskControls).

The rule-based classifier is untouched by this package: the ensemble reads its outputs and adds a
verdict beside them (stored in the snapshot's JSON), so the classifier's answers stay reproducible.
effective.py turns answer and verdict into the regime the engine acts on (stored beside the rule-based one);
current.py is the one reader of it.
"""
