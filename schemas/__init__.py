"""kasper.schemas"""
