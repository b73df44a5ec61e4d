"""Batched decoding in the in-process llama.cpp backend, on the real SmolLM2-135M GGUF: answers,
greedy determinism, order, context-capacity errors and sub-batches, early stops, seeded sampling,
and the numpy token picker."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("llama_cpp")

import llama_cpp  # noqa: E402

from jobport.pipelines.lm import llama_batch  # noqa: E402
from jobport.pipelines.lm.backends import LlamaCppBackend, Sampling  # noqa: E402
from jobport.pipelines.lm.catalogue import BUILTIN  # noqa: E402
from jobport.pipelines.lm.llama_batch import BatchedGenerator, pick_token  # noqa: E402

GREEDY = Sampling(max_tokens=16, do_sample=False, temperature=0.7, top_p=0.8, top_k=20, repetition_penalty=1.0)
SYSTEM = "You label what people are doing in a scene. Answer with one short sentence about the main activity."


def user(text: str, system: str | None = None) -> list[dict]:
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": text}]


CONVS = [user("What is 2+2?"), user("Name a fruit."), user("A man rides a bicycle uphill.", SYSTEM),
         user("Two children play football in a park.", SYSTEM)]


@pytest.fixture(scope="module")
def backend() -> Iterator[LlamaCppBackend]:
    b = LlamaCppBackend(BUILTIN, threads=2)
    yield b
    b.close()


def assert_kv_empty(generator: BatchedGenerator) -> None:
    for seq_id in range(generator.n_seq_max):
        assert llama_cpp.llama_memory_seq_pos_max(generator.memory, seq_id) == -1


def test_batched_answers_usage_and_order(backend):
    assert backend.generator.n_ctx == BUILTIN.n_ctx and backend.generator.n_seq_max == LlamaCppBackend.N_SEQ_MAX
    results = backend.complete(CONVS, GREEDY)
    assert len(results) == len(CONVS)
    for conv, result in zip(CONVS, results, strict=False):
        assert result.error is None and result.text and result.text.strip(), result
        # prompt_tokens are per record and in order: the conversations have different lengths
        assert result.prompt_tokens == len(backend.generator.prompt_tokens(conv))
        assert 0 < result.completion_tokens <= GREEDY.max_tokens
    assert len({r.prompt_tokens for r in results}) == len(results)
    assert "4" in results[0].text
    assert_kv_empty(backend.generator)


def test_prompt_is_rendered_like_create_chat_completion(backend):
    tokens = backend.generator.prompt_tokens(user("What is 2+2?"))
    text = backend.llm.detokenize(tokens, special=True).decode()
    assert text.startswith("<|im_start|>system\n") and text.endswith("<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
                                                                       "<|im_start|>assistant\n")
    assert tokens.count(backend.llm.tokenize(b"<|im_end|>", add_bos=False, special=True)[0]) == 2


def test_greedy_is_deterministic_across_calls(backend):
    first = backend.complete(CONVS, GREEDY)
    second = backend.complete(CONVS, GREEDY)
    assert [(r.text, r.completion_tokens) for r in first] == [(r.text, r.completion_tokens) for r in second]


def test_too_long_record_is_an_error_and_the_others_succeed(backend):
    long = user("word " * 9000)
    n = len(backend.generator.prompt_tokens(long))
    short, too_long, other = backend.complete([CONVS[0], long, CONVS[1]], GREEDY)
    assert too_long.text is None and too_long.error == (
        f"prompt of {n} tokens + max_new_tokens 16 exceed the model's context of {BUILTIN.n_ctx} tokens")
    assert short.error is None and "4" in short.text
    assert other.error is None and other.text.strip()
    assert_kv_empty(backend.generator)


def test_groups_respect_context_and_n_seq_max(backend, monkeypatch):
    """A small generator on the same weights: 512 cells and 3 sequences at most per group."""
    small = BatchedGenerator(backend.llm, n_ctx=512, n_seq_max=3)
    groups: list[int] = []
    run_group = small._run_group
    monkeypatch.setattr(small, "_run_group", lambda group, *a: (groups.append(len(group)), run_group(group, *a)))
    try:
        convs = [user(f"Say the number {i}.") for i in range(7)]
        sampling = Sampling(max_tokens=8, do_sample=False, temperature=0.7, top_p=0.8, top_k=20, repetition_penalty=1.0)
        results = small.complete(convs, sampling)
        assert groups == [3, 3, 1]  # n_seq_max
        assert all(r.error is None and r.text for r in results)

        groups.clear()
        text = "Summarize this text: " + "The weather today is sunny and warm in the city. " * 14
        wide = [user(f"{text} Day {i}.") for i in range(4)] + [user("word " * 480)]
        cells = [len(small.prompt_tokens(c)) + 40 for c in wide]
        assert all(200 < n <= 256 for n in cells[:4]) and cells[4] > 512
        results = small.complete(wide, replace(sampling, max_tokens=40))  # 2 records per group fit in 512 cells
        assert groups == [2, 2]
        assert all(r.error is None and r.text for r in results[:4])
        assert results[4].error and "exceed the model's context of 512 tokens" in results[4].error
        assert_kv_empty(small)
    finally:
        small.close()


def test_mixed_lengths_and_early_stops(backend, monkeypatch):
    copies, seq_cp = [], llama_cpp.llama_memory_seq_cp
    monkeypatch.setattr(llama_batch.llama_cpp, "llama_memory_seq_cp", lambda *a: (copies.append(a[1:]), seq_cp(*a))[1])
    convs = [user("Say hello."), user("Write a very long story about a dragon and a knight.", SYSTEM),
             user("A cat sleeps on a sofa.", SYSTEM),
             user("Summarize this text: " + "The weather today is sunny and warm in the city. " * 25),
             user("A dog chases a ball on the beach.", SYSTEM)]
    sampling = Sampling(max_tokens=24, do_sample=False, temperature=0.7, top_p=0.8, top_k=20, repetition_penalty=1.0)
    results = backend.complete(convs, sampling)
    assert all(r.error is None and r.text.strip() for r in results), results
    counts = [r.completion_tokens for r in results]
    assert max(counts) == 24 and min(counts) < 24  # some stop at <|im_end|>, some at max_tokens
    assert results[3].prompt_tokens > 300
    # a record starting like an earlier one (same system prompt) shares its KV cells instead of evaluating it again
    assert [(src, dst) for src, dst, *_ in copies] == [(1, 2), (0, 3), (2, 4)]  # "A dog" starts like "A cat"
    assert_kv_empty(backend.generator)


def test_seeded_sampling_is_reproducible(backend):
    sampling = Sampling(max_tokens=16, do_sample=True, temperature=1.0, top_p=0.95, top_k=0, repetition_penalty=1.2,
                        seed=7)
    first = backend.complete(CONVS, sampling)
    again = backend.complete(CONVS, sampling)
    assert [r.text for r in first] == [r.text for r in again]
    assert all(r.error is None and r.text for r in first)
    other_seed = backend.complete(CONVS, replace(sampling, seed=8))
    assert [r.text for r in other_seed] != [r.text for r in first]


def test_pick_token_rules():
    logits = np.array([1.0, 3.0, 2.9, -1.0, 0.5], dtype=np.float32)
    greedy = Sampling(max_tokens=1, do_sample=False, temperature=0.7, top_p=1.0, top_k=0, repetition_penalty=1.0)
    assert pick_token(logits.copy(), set(), greedy, None) == 1
    # penalty 1.5 on token 1: 3.0 / 1.5 = 2.0 < 2.9; negative logits are multiplied
    penalised = replace(greedy, repetition_penalty=1.5)
    assert pick_token(logits.copy(), {1}, penalised, None) == 2
    sampled = Sampling(max_tokens=1, do_sample=True, temperature=1.0, top_p=1.0, top_k=2, repetition_penalty=1.0)
    draws = {pick_token(logits.copy(), set(), sampled, np.random.default_rng(i)) for i in range(50)}
    assert draws == {1, 2}  # top-k 2
    nucleus = replace(sampled, top_k=0, top_p=0.3)
    assert {pick_token(logits.copy(), set(), nucleus, np.random.default_rng(i)) for i in range(50)} == {1}
    full = replace(sampled, top_k=0, temperature=5.0)
    assert len({pick_token(logits.copy(), set(), full, np.random.default_rng(i)) for i in range(200)}) == 5
