"""kasper.trainer"""
