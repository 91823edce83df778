"""Request validation for the OpenAI surface: JSON body → checked dict, or a 400 naming the field OpenAI-style.

    body = parse_json(raw)          # bytes → dict; malformed / non-object / non-UTF-8 → InvalidRequest
    validate_chat(body)             # → the same dict (never re-serialised), or InvalidRequest(param=...)
    validate_embeddings(body)

The models are pydantic v2 with ``extra="allow"``, so fields OpenAI adds later pass through untouched.
Scalars are strict (``"0.5"`` is not a temperature, ``1`` is not ``true``), except that integer fields
take whole-number floats as OpenAI does (``n: 1.0``; the body forwarded then carries the int). Every union is *tagged* by a
callable discriminator whose tags contain ``:``; that keeps pydantic from reporting one error per union
member and lets `_param` drop the tags from an error's location, so ``('messages', 2, 'role:user',
'content', 'str:')`` becomes ``messages[2].content``. The TypeAdapters are built once at import (they are
immutable, so this is not mutable module state); validating a typical request costs a few microseconds.

What pydantic does not check lives in gateway/schema_guard.py and runs here too: every string of the body
encodable and every number finite (a 400 naming the parameter, never a provider's failure), tool and
response_format schemas sound and bounded, metadata within OpenAI's bounds. Bounds carry their limit in
the message (pydantic's "at most 4 items", or ours).
"""
from __future__ import annotations

import json
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    Tag,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from . import schema_guard as guard
from .errors import InvalidRequest
from .request_json import json_kind as _json_kind, parse_json  # noqa: F401 - parse_json: this module's face

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
MAX_TOOLS = 128  # tools (and legacy functions) per request, as OpenAI
MAX_LOGIT_BIAS = 300  # logit_bias entries, as OpenAI
INT_FIELDS = ("n", "max_tokens", "max_completion_tokens", "seed", "top_logprobs")

Number = StrictFloat  # strict float accepts ints and rejects bools and strings
NAME_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"


def _whole(value: Any) -> Any:
    """A whole-number float (``1.0``) as the int it is; anything else as it came (StrictInt judges it)."""
    if type(value) is float and value.is_integer():
        return int(value)
    return value


WholeInt = Annotated[StrictInt, BeforeValidator(_whole)]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", ser_json_inf_nan="null")


# --------------------------------------------------------------------------- tagging helpers


def _type_tag(value: Any) -> str | None:
    """Tag of a ``{"type": ...}`` object: ``type:<value>``; None (→ tag error) when it has no string type."""
    if isinstance(value, dict):
        t = value.get("type")
        if isinstance(t, str):
            return "type:" + t
    return None


def _str_or_list(value: Any) -> str | None:
    if isinstance(value, str):
        return "str:"
    if isinstance(value, list):
        return "list:"
    return None


def _role_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        role = value.get("role")
        if isinstance(role, str) and role in ROLES:
            return "role:" + role
    return None


def _str_or_obj(value: Any) -> str | None:
    if isinstance(value, str):
        return "str:"
    if isinstance(value, dict):
        return "obj:"
    return None


def _tagged(*arms: tuple[Any, str], disc: Any, message: str, error: str = "invalid_union") -> Any:
    return Annotated[
        Union[tuple(Annotated[t, Tag(tag)] for t, tag in arms)],  # type: ignore[misc]
        Discriminator(disc, custom_error_type=error, custom_error_message=message),
    ]


# --------------------------------------------------------------------------- content parts


class TextPart(_Open):
    type: Literal["text"]
    text: StrictStr


class ImageURL(_Open):
    url: StrictStr
    detail: Literal["auto", "low", "high"] | None = None


class ImagePart(_Open):
    type: Literal["image_url"]
    image_url: ImageURL


class InputAudio(_Open):
    data: StrictStr
    format: Literal["wav", "mp3"]


class AudioPart(_Open):
    type: Literal["input_audio"]
    input_audio: InputAudio


class FileRef(_Open):
    file_data: StrictStr | None = None
    file_id: StrictStr | None = None
    filename: StrictStr | None = None


class FilePart(_Open):
    type: Literal["file"]
    file: FileRef


class RefusalPart(_Open):
    type: Literal["refusal"]
    refusal: StrictStr


UserPart = _tagged((TextPart, "type:text"), (ImagePart, "type:image_url"), (AudioPart, "type:input_audio"),
                   (FilePart, "type:file"), disc=_type_tag,
                   message="a user content part must have type 'text', 'image_url', 'input_audio' or 'file'")
TextOnlyPart = _tagged((TextPart, "type:text"), disc=_type_tag, message="content parts here must have type 'text'")
AssistantPart = _tagged((TextPart, "type:text"), (RefusalPart, "type:refusal"), disc=_type_tag,
                        message="an assistant content part must have type 'text' or 'refusal'")

_CONTENT_MSG = "content must be a string or a non-empty array of content parts"
UserContent = _tagged((StrictStr, "str:"), (Annotated[list[UserPart], Field(min_length=1)], "list:"),
                      disc=_str_or_list, message=_CONTENT_MSG)
TextContent = _tagged((StrictStr, "str:"), (Annotated[list[TextOnlyPart], Field(min_length=1)], "list:"),
                      disc=_str_or_list, message=_CONTENT_MSG)
AssistantContent = _tagged((StrictStr, "str:"), (list[AssistantPart], "list:"),
                           disc=_str_or_list, message=_CONTENT_MSG)


# --------------------------------------------------------------------------- messages


class FunctionCall(_Open):
    name: StrictStr
    arguments: StrictStr


class FunctionToolCall(_Open):
    id: StrictStr
    type: Literal["function"]
    function: FunctionCall


class CustomCall(_Open):
    name: StrictStr
    input: StrictStr


class CustomToolCall(_Open):
    id: StrictStr
    type: Literal["custom"]
    custom: CustomCall


ToolCall = _tagged((FunctionToolCall, "type:function"), (CustomToolCall, "type:custom"), disc=_type_tag,
                   error="invalid_tool_type", message="a tool call must have type 'function' or 'custom'")


class SystemMessage(_Open):
    role: Literal["system"]
    content: TextContent
    name: StrictStr | None = None


class DeveloperMessage(_Open):
    role: Literal["developer"]
    content: TextContent
    name: StrictStr | None = None


class UserMessage(_Open):
    role: Literal["user"]
    content: UserContent
    name: StrictStr | None = None


class AssistantMessage(_Open):
    role: Literal["assistant"]
    content: AssistantContent | None = None
    name: StrictStr | None = None
    refusal: StrictStr | None = None
    tool_calls: list[ToolCall] | None = None
    function_call: FunctionCall | None = None


class ToolMessage(_Open):
    role: Literal["tool"]
    content: TextContent
    tool_call_id: StrictStr


class FunctionMessage(_Open):
    """The deprecated answer to a legacy ``function_call``."""

    role: Literal["function"]
    content: StrictStr | None
    name: StrictStr


Message = _tagged(
    (SystemMessage, "role:system"), (DeveloperMessage, "role:developer"), (UserMessage, "role:user"),
    (AssistantMessage, "role:assistant"), (ToolMessage, "role:tool"), (FunctionMessage, "role:function"),
    disc=_role_tag, error="invalid_role",
    message="role must be one of 'system', 'developer', 'user', 'assistant', 'tool', 'function'",
)


# --------------------------------------------------------------------------- tools and formats


class FunctionDef(_Open):
    name: Annotated[StrictStr, Field(pattern=NAME_PATTERN)]
    description: StrictStr | None = None
    parameters: dict[str, Any] | None = None
    strict: StrictBool | None = None


class FunctionTool(_Open):
    type: Literal["function"]
    function: FunctionDef


class GrammarSpec(_Open):
    definition: StrictStr
    syntax: Literal["lark", "regex"]


class FormatGrammar(_Open):
    type: Literal["grammar"]
    grammar: GrammarSpec


class FormatFreeText(_Open):
    type: Literal["text"]


CustomFormat = _tagged((FormatFreeText, "type:text"), (FormatGrammar, "type:grammar"), disc=_type_tag,
                       message="a custom tool's format must have type 'text' or 'grammar'")


class CustomDef(_Open):
    name: Annotated[StrictStr, Field(pattern=NAME_PATTERN)]
    description: StrictStr | None = None
    format: CustomFormat | None = None


class CustomTool(_Open):
    type: Literal["custom"]
    custom: CustomDef


Tool = _tagged((FunctionTool, "type:function"), (CustomTool, "type:custom"), disc=_type_tag,
               error="invalid_tool_type", message="a tool must have type 'function' or 'custom'")


class NamedFunction(_Open):
    name: StrictStr


class NamedToolChoice(_Open):
    type: Literal["function"]
    function: NamedFunction


class NamedCustomChoice(_Open):
    type: Literal["custom"]
    custom: NamedFunction


class AllowedTools(_Open):
    mode: Literal["auto", "required"]
    tools: Annotated[list[dict[str, Any]], Field(min_length=1, max_length=MAX_TOOLS)]


class AllowedToolsChoice(_Open):
    type: Literal["allowed_tools"]
    allowed_tools: AllowedTools


def _choice_tag(value: Any) -> str | None:
    if isinstance(value, str):
        return "str:"
    return _type_tag(value)


ToolChoice = _tagged((Literal["none", "auto", "required"], "str:"), (NamedToolChoice, "type:function"),
                     (NamedCustomChoice, "type:custom"), (AllowedToolsChoice, "type:allowed_tools"),
                     disc=_choice_tag,
                     message="tool_choice must be 'none', 'auto', 'required' or an object of type 'function', "
                             "'custom' or 'allowed_tools'")

FunctionCallChoice = _tagged((Literal["none", "auto"], "str:"), (NamedFunction, "obj:"), disc=_str_or_obj,
                             message="function_call must be 'none', 'auto' or {\"name\": ...}")


class FormatText(_Open):
    type: Literal["text"]


class FormatJsonObject(_Open):
    type: Literal["json_object"]


class JsonSchemaSpec(_Open):
    name: Annotated[StrictStr, Field(pattern=NAME_PATTERN)]
    description: StrictStr | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: StrictBool | None = None


class FormatJsonSchema(_Open):
    type: Literal["json_schema"]
    json_schema: JsonSchemaSpec


ResponseFormat = _tagged((FormatText, "type:text"), (FormatJsonObject, "type:json_object"),
                         (FormatJsonSchema, "type:json_schema"), disc=_type_tag,
                         message="response_format.type must be 'text', 'json_object' or 'json_schema'")

Stop = _tagged((StrictStr, "str:"), (Annotated[list[StrictStr], Field(min_length=1, max_length=4)], "list:"),
               disc=_str_or_list, message="stop must be a string or an array of at most 4 strings")


class StreamOptions(_Open):
    include_usage: StrictBool | None = None


# --------------------------------------------------------------------------- request bodies


class ChatCompletionRequest(_Open):
    model: Annotated[StrictStr, Field(min_length=1)]
    messages: Annotated[list[Message], Field(min_length=1)]
    tools: Annotated[list[Tool], Field(max_length=MAX_TOOLS)] | None = None
    tool_choice: ToolChoice | None = None
    functions: Annotated[list[FunctionDef], Field(min_length=1, max_length=MAX_TOOLS)] | None = None
    function_call: FunctionCallChoice | None = None
    parallel_tool_calls: StrictBool | None = None
    response_format: ResponseFormat | None = None
    n: Annotated[WholeInt, Field(ge=1, le=128)] | None = None
    temperature: Annotated[Number, Field(ge=0, le=2)] | None = None
    top_p: Annotated[Number, Field(ge=0, le=1)] | None = None
    presence_penalty: Annotated[Number, Field(ge=-2, le=2)] | None = None
    frequency_penalty: Annotated[Number, Field(ge=-2, le=2)] | None = None
    max_tokens: Annotated[WholeInt, Field(ge=1)] | None = None
    max_completion_tokens: Annotated[WholeInt, Field(ge=1)] | None = None
    stop: Stop | None = None
    seed: WholeInt | None = None
    user: StrictStr | None = None
    logprobs: StrictBool | None = None
    top_logprobs: Annotated[WholeInt, Field(ge=0, le=20)] | None = None
    logit_bias: Annotated[dict[Annotated[StrictStr, Field(pattern=r"^[0-9]{1,10}$")],
                               Annotated[Number, Field(ge=-100, le=100)]],
                          Field(max_length=MAX_LOGIT_BIAS)] | None = None
    stream: StrictBool | None = None
    stream_options: StreamOptions | None = None

    @model_validator(mode="after")
    def _cross_field(self) -> ChatCompletionRequest:
        if self.top_logprobs is not None and not self.logprobs:
            raise _FieldError("top_logprobs", "'logprobs' must be true when 'top_logprobs' is set")
        if self.stream_options is not None and not self.stream:
            raise _FieldError("stream_options", "'stream_options' is only allowed when 'stream' is true")
        if self.tool_choice is not None and not isinstance(self.tool_choice, str):
            if not self.tools:
                raise _FieldError("tool_choice", "a named 'tool_choice' needs 'tools'")
            _check_choice(self.tool_choice, self.tools)
        return self


def _tool_name(tool: Any) -> tuple[str, str]:
    """(type, name) of a tool definition or of a tool reference in a tool_choice."""
    if isinstance(tool, (FunctionTool, CustomTool)):
        return tool.type, (tool.function.name if isinstance(tool, FunctionTool) else tool.custom.name)
    kind = tool.get("type")
    inner = tool.get(kind) if isinstance(kind, str) else None
    name = inner.get("name") if isinstance(inner, dict) else None
    return str(kind), name if isinstance(name, str) else ""


def _check_choice(choice: Any, tools: list[Any]) -> None:
    known = {_tool_name(t) for t in tools}
    if isinstance(choice, AllowedToolsChoice):
        for i, ref in enumerate(choice.allowed_tools.tools):
            kind, name = _tool_name(ref)
            if (kind, name) not in known:
                raise _FieldError(f"tool_choice.allowed_tools.tools[{i}]",
                                  f"no {kind} tool named {_short(name)} in 'tools'")
        return
    kind = choice.type
    name = choice.function.name if kind == "function" else choice.custom.name
    if (kind, name) not in known:
        raise _FieldError("tool_choice", f"no {kind} tool named {_short(name)} in 'tools'")


def _embedding_input_tag(value: Any) -> str | None:
    if isinstance(value, str):
        return "str:"
    if isinstance(value, list):
        if not value:
            return "strs:"  # the min_length check reports it
        first = value[0]
        if isinstance(first, str):
            return "strs:"
        if isinstance(first, int) and not isinstance(first, bool):
            return "ints:"
        if isinstance(first, list):
            return "nested:"
    return None


EmbeddingInput = _tagged(
    (Annotated[StrictStr, Field(min_length=1)], "str:"),
    (Annotated[list[Annotated[StrictStr, Field(min_length=1)]], Field(min_length=1, max_length=2048)], "strs:"),
    (Annotated[list[Annotated[StrictInt, Field(ge=0)]], Field(min_length=1)], "ints:"),
    (Annotated[list[Annotated[list[Annotated[StrictInt, Field(ge=0)]], Field(min_length=1)]],
               Field(min_length=1, max_length=2048)], "nested:"),
    disc=_embedding_input_tag,
    message="input must be a non-empty string, array of strings, array of token ids, or array of token arrays",
)


class EmbeddingsRequest(_Open):
    model: Annotated[StrictStr, Field(min_length=1)]
    input: EmbeddingInput
    dimensions: Annotated[WholeInt, Field(ge=1)] | None = None
    encoding_format: Literal["float", "base64"] | None = None
    user: StrictStr | None = None


class _FieldError(ValueError):
    """A cross-field check that knows which parameter to blame."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param
        self.message = message


CHAT = TypeAdapter(ChatCompletionRequest)
EMBEDDINGS = TypeAdapter(EmbeddingsRequest)


# --------------------------------------------------------------------------- errors → OpenAI params


def _param(loc: tuple[Any, ...]) -> str | None:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and ":" in part:
            continue  # a union tag, not a field
        else:
            out += ("." if out else "") + str(part)
    return out or None


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _as_invalid(exc: ValidationError, body: dict) -> InvalidRequest:
    err = exc.errors(include_url=False)[0]
    loc = tuple(err.get("loc", ()))
    ctx = err.get("ctx") or {}
    inner = ctx.get("error")
    if isinstance(inner, _FieldError):
        return InvalidRequest(f"Invalid value for '{inner.param}': {inner.message}.", param=inner.param)
    etype = err.get("type", "")
    if etype == "invalid_role":
        item = body
        for part in loc:
            try:
                item = item[part]
            except (KeyError, IndexError, TypeError):
                item = None
                break
        param = _param(loc)
        if isinstance(item, dict):
            role = item.get("role")
            param = f"{param}.role"
            if role is None:
                return InvalidRequest(f"Missing required parameter: '{param}'.", param=param,
                                      code="missing_required_parameter")
            return InvalidRequest(f"Invalid value for '{param}': {_short(role)}. Supported values are: 'system', "
                                  f"'developer', 'user', 'assistant', 'tool', and 'function'.", param=param, code="invalid_value")
        return InvalidRequest(f"Invalid type for '{param}': expected an object, but got {_short(item)}.",
                              param=param, code="invalid_type")
    param = _param(loc)
    if etype == "invalid_tool_type" and isinstance(err.get("input"), dict):
        param = f"{param}.type"  # the object is there; its type is what is wrong
    if etype == "missing":
        return InvalidRequest(f"Missing required parameter: '{param}'.", param=param,
                              code="missing_required_parameter")
    msg = err.get("msg", "invalid value")
    if "input" in err and etype not in ("too_short", "too_long"):
        msg = f"{msg} (got {_short(err['input'])})"
    elif etype == "too_short" and isinstance(err.get("input"), list) and not err["input"]:
        msg = "expected a non-empty array, but got an empty array"
    return InvalidRequest(f"Invalid value for '{param}': {msg}.", param=param, code="invalid_value")


# --------------------------------------------------------------------------- entry points


def _validate(adapter: TypeAdapter, body: Any, parsed: bool) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidRequest(f"The request body must be a JSON object, not {_json_kind(body)}.",
                             code="invalid_json")
    if not parsed:
        guard.check_encodable(body)
    try:
        adapter.validate_python(body)
    except ValidationError as exc:
        raise _as_invalid(exc, body) from None
    except RecursionError:
        raise InvalidRequest("The request body is nested too deeply.", code="invalid_json") from None
    return body


def _whole_ints(body: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """``body`` with whole-number floats of integer fields as ints (a copy, only when there are any)."""
    fixed = {f: int(body[f]) for f in fields if type(body.get(f)) is float}
    return {**body, **fixed} if fixed else body


def _check_schemas(body: dict[str, Any]) -> None:
    budget = guard.MAX_REQUEST_SCHEMA_NODES
    for i, tool in enumerate(body.get("tools") or ()):
        fn = tool.get("function") if tool.get("type") == "function" else None
        if isinstance(fn, dict) and fn.get("parameters") is not None:
            budget -= guard.check_schema(fn["parameters"], f"tools[{i}].function.parameters", budget=budget,
                                         object_root=True)
    for i, fn in enumerate(body.get("functions") or ()):
        if fn.get("parameters") is not None:
            budget -= guard.check_schema(fn["parameters"], f"functions[{i}].parameters", budget=budget,
                                         object_root=True)
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = fmt["json_schema"].get("schema")
        if schema is not None:
            guard.check_schema(schema, "response_format.json_schema.schema", budget=budget)


def validate_chat(body: Any, *, parsed: bool = False) -> dict[str, Any]:
    """Check a chat-completions body; returns the dict to forward: ``body`` itself, or a copy when an
    integer field came as a whole-number float. ``parsed``: the body came from `parse_json`, which has
    already checked that it is Unicode and finite throughout."""
    body = _validate(CHAT, body, parsed)
    _check_schemas(body)
    guard.check_metadata(body.get("metadata"))
    return _whole_ints(body, INT_FIELDS)


def validate_embeddings(body: Any, *, parsed: bool = False) -> dict[str, Any]:
    """Check an embeddings body; returns the dict to forward (see `validate_chat`)."""
    return _whole_ints(_validate(EMBEDDINGS, body, parsed), ("dimensions",))
