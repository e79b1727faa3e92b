"""The eight indicator modules, one per row of IndicatorConfiguration, each reading its own sheet."""
