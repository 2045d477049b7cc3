"""kasper.agents"""
