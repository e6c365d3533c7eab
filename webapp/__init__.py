"""The web app's parts that are not the page: what a visitor may do on a server.

app.py holds the page (layout, event wiring, launch); what can be decided and tested
without Gradio lives here.
"""
