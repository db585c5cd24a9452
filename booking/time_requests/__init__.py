"""Requests for a time (提交预约意向): a district asks an expert with no suitable free slot for a
session within a window; the expert offers a concrete time (a confirmed session) or declines."""
