"""kasper.streams"""
