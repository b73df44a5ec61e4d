"""Batched decoding of several chat conversations in one llama.cpp context.

`BatchedGenerator.complete(conversations, sampling)` gives each conversation its own sequence id
in a shared, unified KV cache:

1. each conversation is rendered with the model's chat template (the GGUF `tokenizer.chat_template`,
   as `Llama.create_chat_completion` renders it) and tokenized with special tokens;
2. the conversations are cut into groups that fit the context: at most `n_seq_max` sequences and
   at most `n_ctx` cells for the sum of prompt + max_tokens; a conversation that cannot fit alone
   gets an error `Completion`;
3. for each group, the prompt tokens of all sequences go through shared `llama_decode` batches
   (logits only for each prompt's last token), then every decode step evaluates one new token for
   every sequence still running, in one batch;
4. a sequence stops at an end-of-generation token (EOS, EOT, `<|im_end|>`...) or after
   `max_tokens`; its KV cells are removed at once, so the next group and the next call start clean.

Sampling is done here in numpy: repetition penalty (transformers' rule, over the prompt and the
tokens generated so far), then greedy argmax, or temperature, top-k, top-p and a draw from a
`numpy.random.Generator` seeded with `sampling.seed + position of the record in the call`.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from typing import Any

import jinja2
import llama_cpp
import numpy as np
from llama_cpp import Llama, llama_chat_format
from llama_cpp._internals import LlamaContext

from jobport.pipelines.lm.backends import Completion, Sampling

MIN_SHARED_PREFIX = 16  # tokens; a shorter common prefix is evaluated again rather than copied


@dataclass
class _Seq:
    """One conversation being decoded: its slot in the KV cache and its state."""

    index: int  # position in the call
    seq_id: int
    prompt: list[int]
    max_new: int
    rng: np.random.Generator | None  # None: greedy
    seen: set[int] = field(default_factory=set)  # token ids the repetition penalty applies to
    out: list[int] = field(default_factory=list)
    done: bool = False


class BatchedGenerator:
    def __init__(self, llm: Llama, n_ctx: int, n_seq_max: int = 16, n_batch: int = 512) -> None:
        self.llm = llm
        params = llama_cpp.llama_context_params.from_buffer_copy(llm.context_params)  # same threads, attention...
        params.n_ctx, params.n_batch, params.n_ubatch = n_ctx, n_batch, n_batch
        params.n_seq_max = n_seq_max
        params.kv_unified = True  # every sequence may use any cell: a long record can take the whole context
        self._ctx = LlamaContext(model=llm._model, params=params, verbose=llm.verbose)
        self.ctx = self._ctx.ctx
        self.memory = llama_cpp.llama_get_memory(self.ctx)
        self.n_ctx = llama_cpp.llama_n_ctx(self.ctx)
        self.n_seq_max = llama_cpp.llama_n_seq_max(self.ctx)
        self.n_batch = n_batch
        self.vocab = llm._model.vocab
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self.vocab)
        self.batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
        self._render = _chat_formatter(llm)

    # -- prompts ---------------------------------------------------------------------------------

    def prompt_tokens(self, messages: list[dict[str, Any]]) -> list[int]:
        """The tokens `create_chat_completion` would evaluate for these messages."""
        rendered = self._render(messages=messages)
        return self.llm.tokenize(rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True)

    # -- the call --------------------------------------------------------------------------------

    def complete(self, conversations: list[list[dict[str, Any]]], sampling: Sampling) -> list[Completion]:
        results: list[Completion | None] = [None] * len(conversations)
        group: list[_Seq] = []
        used = 0
        for index, messages in enumerate(conversations):
            try:
                prompt = self.prompt_tokens(messages)
            except (ValueError, TypeError, KeyError, RuntimeError, jinja2.TemplateError) as err:
                results[index] = Completion(None, error=f"model error: cannot render the chat template: {err}")
                continue
            need = len(prompt) + sampling.max_tokens
            if need > self.n_ctx:
                results[index] = Completion(
                    None, len(prompt), error=f"prompt of {len(prompt)} tokens + max_new_tokens {sampling.max_tokens} "
                                             f"exceed the model's context of {self.n_ctx} tokens")
                continue
            if group and (used + need > self.n_ctx or len(group) == self.n_seq_max):
                self._run_group(group, sampling, results)
                group, used = [], 0
            greedy = not sampling.do_sample or sampling.temperature <= 0
            rng = None if greedy else np.random.default_rng(sampling.seed + index)
            group.append(_Seq(index, len(group), prompt, sampling.max_tokens, rng))
            used += need
        if group:
            self._run_group(group, sampling, results)
        assert all(r is not None for r in results)
        return results  # type: ignore[return-value]

    def _run_group(self, group: list[_Seq], sampling: Sampling, results: list[Completion | None]) -> None:
        try:
            self._decode_group(group, sampling)
        except RuntimeError as err:
            for seq in group:
                results[seq.index] = Completion(None, len(seq.prompt), error=f"model error: {err}")
            return
        finally:
            llama_cpp.llama_memory_clear(self.memory, True)
        for seq in group:
            text = self.llm.detokenize(seq.out).decode("utf-8", errors="replace")
            results[seq.index] = Completion(text, len(seq.prompt), len(seq.out))

    def _decode_group(self, group: list[_Seq], sampling: Sampling) -> None:
        # Prompts: packed into shared batches, logits only for each prompt's last token. A prompt that
        # starts like an earlier one of the group (same system prompt, instruction...) gets that prefix's
        # KV cells by `llama_memory_seq_cp` (in a unified cache a cell just gains a sequence id).
        pending: list[tuple[int, _Seq]] = []  # (batch row, sequence) whose logits the next decode yields
        in_batch: set[int] = set()  # sequences with tokens in the batch not yet decoded
        for i, seq in enumerate(group):
            if sampling.repetition_penalty != 1.0:
                seq.seen.update(seq.prompt)
            source, shared = _longest_prefix(seq.prompt, group[:i])
            if shared < MIN_SHARED_PREFIX:  # not worth a decode call of its own
                source, shared = None, 0
            if source is not None:
                if source.seq_id in in_batch:
                    self._flush(pending, in_batch, sampling)
                llama_cpp.llama_memory_seq_cp(self.memory, source.seq_id, seq.seq_id, 0, shared)
            for pos in range(shared, len(seq.prompt)):
                if self.batch.n_tokens == self.n_batch:
                    self._flush(pending, in_batch, sampling)
                last = pos == len(seq.prompt) - 1
                row = self._add(seq.prompt[pos], pos, seq.seq_id, last)
                in_batch.add(seq.seq_id)
                if last:
                    pending.append((row, seq))
        self._flush(pending, in_batch, sampling)
        # Generation: one new token for every running sequence per decode step.
        running = [seq for seq in group if not self._release_if_done(seq)]
        while running:
            for seq in running:
                self._add(seq.out[-1], len(seq.prompt) + len(seq.out) - 1, seq.seq_id, True)
            self._decode_and_sample(list(enumerate(running)), sampling)
            running = [seq for seq in running if not self._release_if_done(seq)]

    def _add(self, token: int, pos: int, seq_id: int, logits: bool) -> int:
        b, row = self.batch, self.batch.n_tokens
        b.token[row], b.pos[row], b.n_seq_id[row], b.logits[row] = token, pos, 1, logits
        b.seq_id[row][0] = seq_id
        b.n_tokens = row + 1
        return row

    def _flush(self, pending: list[tuple[int, _Seq]], in_batch: set[int], sampling: Sampling) -> None:
        self._decode_and_sample(pending, sampling)
        pending.clear()
        in_batch.clear()

    def _decode_and_sample(self, outputs: list[tuple[int, _Seq]], sampling: Sampling) -> None:
        if self.batch.n_tokens == 0:
            return
        rc = llama_cpp.llama_decode(self.ctx, self.batch)
        self.batch.n_tokens = 0
        if rc != 0:
            raise RuntimeError(f"llama_decode returned {rc}")
        for row, seq in outputs:
            pointer = llama_cpp.llama_get_logits_ith(self.ctx, row)
            logits = np.ctypeslib.as_array(ctypes.cast(pointer, ctypes.POINTER(ctypes.c_float)), shape=(self.n_vocab,))
            token = pick_token(logits.copy(), seq.seen, sampling, seq.rng)
            if llama_cpp.llama_vocab_is_eog(self.vocab, token):
                seq.done = True
            else:
                seq.out.append(token)
                seq.seen.add(token)
                seq.done = len(seq.out) >= seq.max_new

    def _release_if_done(self, seq: _Seq) -> bool:
        """Free a finished sequence's cells at once: the others (and the next group) can use them."""
        if seq.done:
            llama_cpp.llama_memory_seq_rm(self.memory, seq.seq_id, -1, -1)
        return seq.done

    def close(self) -> None:
        if self.batch is not None:
            llama_cpp.llama_batch_free(self.batch)
            self.batch = None
        self._ctx.close()


def pick_token(logits: np.ndarray, seen: set[int], sampling: Sampling, rng: np.random.Generator | None) -> int:
    """Repetition penalty, then argmax (rng None) or temperature → top-k → top-p → seeded draw."""
    penalty = sampling.repetition_penalty
    if penalty != 1.0 and seen:
        ids = np.fromiter(seen, dtype=np.intp, count=len(seen))
        values = logits[ids]
        logits[ids] = np.where(values > 0, values / penalty, values * penalty)
    if rng is None:
        return int(np.argmax(logits))
    scores = logits.astype(np.float64) / sampling.temperature
    if 0 < sampling.top_k < scores.size:
        candidates = np.argpartition(-scores, sampling.top_k - 1)[: sampling.top_k]
    else:
        candidates = np.arange(scores.size)
    probs = np.exp(scores[candidates] - scores[candidates].max())
    probs /= probs.sum()
    if sampling.top_p < 1.0:  # the smallest set of most likely tokens whose mass reaches top_p
        head = min(64, probs.size)
        while True:  # sort a growing head of the candidates rather than all of them
            order = np.argpartition(-probs, head - 1)[:head] if head < probs.size else np.arange(probs.size)
            order = order[np.argsort(-probs[order], kind="stable")]
            mass = np.cumsum(probs[order])
            if mass[-1] >= sampling.top_p or head == probs.size:
                break
            head = min(head * 4, probs.size)
        keep = min(int(np.searchsorted(mass, sampling.top_p)) + 1, order.size)
        candidates, probs = candidates[order[:keep]], probs[order[:keep]] / mass[keep - 1]
    return int(rng.choice(candidates, p=probs))


def _longest_prefix(prompt: list[int], earlier: list[_Seq]) -> tuple[_Seq | None, int]:
    """The earlier sequence sharing the longest prefix with `prompt`, and its length (the last token
    of `prompt` is never shared: its logits are needed)."""
    best, best_len = None, 0
    for other in earlier:
        n = min(len(prompt) - 1, len(other.prompt))
        differ = np.flatnonzero(np.asarray(prompt[:n]) != np.asarray(other.prompt[:n]))
        length = int(differ[0]) if differ.size else n
        if length > best_len:
            best, best_len = other, length
    return best, best_len


def _chat_formatter(llm: Llama) -> llama_chat_format.ChatFormatter:
    """The GGUF's chat template with the model's BOS/EOS texts, as `Llama` sets it up (llama-2 otherwise)."""
    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        return llama_chat_format.format_llama2
    eos, bos = llm.token_eos(), llm.token_bos()
    return llama_chat_format.Jinja2ChatFormatter(
        template=template,
        eos_token=llm._model.token_get_text(eos) if eos != -1 else "",
        bos_token=llm._model.token_get_text(bos) if bos != -1 else "",
    )
