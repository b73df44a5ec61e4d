"""The OpenAI Batch API's use cases: File objects (`files`), batches as jobport jobs (`batches`), the
input file's validation (`validation`) and the output and error files written when a batch's job
ends (`assembly`). Services hand the API plain views (`views`), never rows."""
