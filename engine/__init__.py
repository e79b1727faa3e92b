"""RegimeDesk engine: everything that runs without a browser.

The web (Dash pages) and the engine share only the store. The engine never imports Dash.
"""
