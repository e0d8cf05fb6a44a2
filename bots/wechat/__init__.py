"""WeChat channels: Official Account webhook and WeCom customer service (微信客服)."""
