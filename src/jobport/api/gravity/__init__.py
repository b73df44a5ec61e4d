"""The Gravity AI on-demand jobs surface (`/api/v1/jobs`): multipart job + file, mapping, billing,
result link, every response in the `{data, isError, errorMessage}` envelope."""
