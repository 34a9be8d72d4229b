//! The DAP session: one request in, one response out, the same for every transport.
//!
//! Requests that read the program (stackTrace, scopes, variables, evaluate in a frame) need it
//! stopped; the rest work while it runs. Malformed messages and unknown commands get an error
//! response, never a dropped connection.

use mlua::{Table, Value};
use serde_json::{json, Value as Json};

use super::breakpoints::{resolve_line, Breakpoint, HitCondition};
use super::inspect::{self, Target};
use super::protocol::{self, BadMessage, Request};
use super::{Debugger, Step, StepFrom};

/// Whether the program stays stopped after a request.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Flow {
    Stay,
    Resume,
}

/// One row of the stack shown while stopped: a real frame or a label (async boundary).
pub struct FrameRec {
    pub name: String,
    pub chunk: Option<String>,
    pub line: i32,
    /// The coroutine and level of a real frame.
    pub at: Option<(mlua::Thread, i32)>,
}

type Reply = Result<(Json, Flow), String>;

impl Debugger {
    /// Parses and answers one message.
    pub(super) fn request(&self, text: &str) -> Flow {
        let req = match protocol::parse(text) {
            Ok(r) => r,
            Err(BadMessage::NotJson(why)) => {
                let msg =
                    self.st
                        .borrow_mut()
                        .seq
                        .error(0, "", &format!("malformed DAP message: {why}"));
                self.send(msg);
                return Flow::Stay;
            }
            Err(BadMessage::NotRequest { seq, command, why }) => {
                let msg = self.st.borrow_mut().seq.error(seq, &command, &why);
                self.send(msg);
                return Flow::Stay;
            }
        };
        let result = self.dispatch(&req);
        let (msg, flow) = match result {
            Ok((body, flow)) => (
                self.st
                    .borrow_mut()
                    .seq
                    .response(req.seq, &req.command, body),
                flow,
            ),
            Err(why) => (
                self.st.borrow_mut().seq.error(req.seq, &req.command, &why),
                Flow::Stay,
            ),
        };
        self.send(msg);
        if self.terminate_after_reply.take() {
            // Let the transport write the response before the signal ends the process.
            std::thread::sleep(std::time::Duration::from_millis(50));
            terminate_program();
        }
        match req.command.as_str() {
            "initialize" => self.event("initialized", Json::Null),
            "configurationDone" => {
                // A client that attaches to a stopped program learns it is stopped (unless
                // the stop happened after it attached and it was told already).
                let reason = {
                    let st = self.st.borrow();
                    let client = st.client.as_ref().map(|c| c.id);
                    st.paused
                        .as_ref()
                        .filter(|p| client.is_none() || p.announced_to != client)
                        .map(|p| p.reason)
                };
                if let Some(reason) = reason {
                    self.event(
                        "stopped",
                        json!({ "reason": reason, "threadId": 1, "allThreadsStopped": true }),
                    );
                }
            }
            _ => {}
        }
        flow
    }

    fn dispatch(&self, req: &Request) -> Reply {
        let stay = |body: Json| Ok((body, Flow::Stay));
        match req.command.as_str() {
            "initialize" => stay(capabilities()),
            "launch" | "attach" => stay(Json::Null),
            "configurationDone" => {
                self.st.borrow_mut().configured = true;
                stay(Json::Null)
            }
            "setBreakpoints" => stay(self.set_breakpoints(req)?),
            "setFunctionBreakpoints" => {
                let wanted = req.array("breakpoints");
                let mut list = Vec::new();
                let mut out = Vec::new();
                for b in wanted {
                    let id = self.st.borrow_mut().bps.new_id();
                    match b.get("name").and_then(Json::as_str).map(str::trim) {
                        Some(name) if !name.is_empty() => {
                            list.push((id, name.to_string()));
                            out.push(json!({ "id": id, "verified": true }));
                        }
                        _ => out.push(json!({ "id": id, "verified": false,
                                              "message": "a function breakpoint needs a name" })),
                    }
                }
                self.st.borrow_mut().fn_bps = list;
                stay(json!({ "breakpoints": out }))
            }
            "setExceptionBreakpoints" => {
                let filters = req.args.get("filters").and_then(Json::as_array);
                let has = |name: &str| {
                    filters.is_some_and(|f| f.iter().any(|x| x.as_str() == Some(name)))
                };
                let (uncaught, all) = (has("uncaught"), has("all"));
                {
                    let mut st = self.st.borrow_mut();
                    st.break_uncaught = uncaught;
                    st.break_all = all;
                }
                let switch = self.break_all_switch.borrow().clone();
                if let Some(f) = switch {
                    f.call::<()>(all).map_err(|e| e.to_string())?;
                }
                stay(json!({ "breakpoints": [] }))
            }
            "threads" => stay(json!({ "threads": [{ "id": 1, "name": "main" }] })),
            "stackTrace" => stay(self.stack_trace(req)?),
            "scopes" => stay(self.scopes(req)?),
            "variables" => stay(self.variables(req)?),
            "evaluate" => stay(self.evaluate(req)?),
            "setVariable" => stay(self.set_variable(req)?),
            "completions" => stay(self.completions(req)?),
            "source" => stay(self.source(req)?),
            "loadedSources" => {
                let chunks = self.st.borrow().loaded.clone();
                let sources: Vec<Json> =
                    chunks.iter().filter_map(|c| self.source_json(c)).collect();
                stay(json!({ "sources": sources }))
            }
            "exceptionInfo" => stay(self.exception_info()?),
            "continue" => self.resume(Step::None, json!({ "allThreadsContinued": true })),
            "next" => self.resume_step(StepKind::Over),
            "stepIn" => self.resume_step(StepKind::In),
            "stepOut" => self.resume_step(StepKind::Out),
            "pause" => {
                if self.stopped.get() {
                    return stay(Json::Null);
                }
                self.st.borrow_mut().pause = Some("pause");
                stay(Json::Null)
            }
            "disconnect" => {
                let terminate = req.bool("terminateDebuggee") == Some(true);
                self.detach_keep_client();
                self.terminate_after_reply.set(terminate);
                Ok((Json::Null, Flow::Resume))
            }
            "terminate" => {
                self.detach_keep_client();
                self.terminate_after_reply.set(true);
                Ok((Json::Null, Flow::Resume))
            }
            other => match crate::profile::control::dap_request(&self.lua, other, &req.args) {
                Some(r) => stay(r?),
                None => Err(format!("unknown or unsupported request '{other}'")),
            },
        }
    }

    /// `disconnect`: breakpoints and steps go, the client stays until its socket closes (it
    /// still wants this response).
    fn detach_keep_client(&self) {
        let mut st = self.st.borrow_mut();
        st.bps.clear();
        st.fn_bps.clear();
        st.step = Step::None;
        st.pause = None;
        st.line_on = false;
    }

    fn resume(&self, step: Step, body: Json) -> Reply {
        if !self.stopped.get() {
            return Ok((body, Flow::Stay));
        }
        self.st.borrow_mut().step = step;
        Ok((body, Flow::Resume))
    }

    fn resume_step(&self, kind: StepKind) -> Reply {
        let Some((thread, level)) = self
            .st
            .borrow()
            .paused
            .as_ref()
            .map(|p| (p.thread.clone(), p.level))
        else {
            return Err("the program is not stopped".into());
        };
        let state = thread.to_pointer() as usize;
        // SAFETY: the stopped coroutine is alive (the paused state holds it).
        let depth = unsafe { super::hook::depth(state as *mut mlua::ffi::lua_State) } - level;
        let from = StepFrom {
            thread,
            state,
            depth,
        };
        let step = match kind {
            StepKind::Over => Step::Over(from),
            StepKind::In => Step::In,
            StepKind::Out => Step::Out(from),
        };
        self.resume(step, Json::Null)
    }

    fn set_breakpoints(&self, req: &Request) -> Result<Json, String> {
        let source = req.args.get("source").cloned().unwrap_or(Json::Null);
        let chunk = if let Some(path) = source.get("path").and_then(Json::as_str) {
            format!("@{}", normalize_path(path))
        } else if let Some(r) = source.get("sourceReference").and_then(Json::as_i64) {
            self.st
                .borrow()
                .source_refs
                .get((r - 1).max(0) as usize)
                .cloned()
                .ok_or("setBreakpoints: unknown sourceReference")?
        } else {
            return Err("setBreakpoints: source.path or source.sourceReference is required".into());
        };
        let text = match chunk
            .strip_prefix('@')
            .and_then(|p| p.strip_prefix("builtin:"))
        {
            Some(_) => (self.sources)(&chunk),
            None => std::fs::read_to_string(&chunk[1..]).ok(),
        };
        let code_lines: Option<Vec<i32>> = text.and_then(|t| {
            self.helper
                .call::<Option<Vec<i32>>>(&self.lua, "codelines", (t, chunk.as_str()))
                .ok()
                .flatten()
        });
        let wanted = req.array("breakpoints");
        let mut list = Vec::new();
        let mut out = Vec::new();
        for b in wanted {
            let asked = b.get("line").and_then(Json::as_i64).unwrap_or(0) as i32;
            let id = self.st.borrow_mut().bps.new_id();
            let line = match &code_lines {
                Some(lines) => resolve_line(lines, asked),
                None => Some(asked),
            };
            let Some(line) = line else {
                out.push(json!({ "id": id, "verified": false, "line": asked,
                    "message": "no code at or after this line" }));
                continue;
            };
            let hit_condition = match b.get("hitCondition").and_then(Json::as_str) {
                Some(s) if !s.trim().is_empty() => match HitCondition::parse(s) {
                    Ok(h) => Some(h),
                    Err(e) => {
                        out.push(
                            json!({ "id": id, "verified": false, "line": asked, "message": e }),
                        );
                        continue;
                    }
                },
                _ => None,
            };
            let nonempty = |k: &str| {
                b.get(k)
                    .and_then(Json::as_str)
                    .filter(|s| !s.trim().is_empty())
                    .map(String::from)
            };
            if list.iter().any(|x: &Breakpoint| x.line == line) {
                // Two asked lines landed on the same code line: one breakpoint serves both.
                let first = list
                    .iter()
                    .find(|x: &&Breakpoint| x.line == line)
                    .map(|x| x.id);
                out.push(json!({ "id": first, "verified": true, "line": line }));
                continue;
            }
            list.push(Breakpoint {
                id,
                line,
                condition: nonempty("condition"),
                hit_condition,
                log_message: nonempty("logMessage"),
                hits: 0,
            });
            let mut v = json!({ "id": id, "verified": true, "line": line });
            if code_lines.is_none() {
                v["message"] = json!("source not readable yet; the line is not checked");
            }
            out.push(v);
        }
        {
            let mut st = self.st.borrow_mut();
            st.bps.set(chunk.into_bytes(), list);
            // The function running now may be one of them: look at its next line.
            st.line_on = true;
            st.ret_watch = true;
        }
        super::hook::flush_traces();
        Ok(json!({ "breakpoints": out }))
    }

    /// The frames shown while stopped: the stopped coroutine's, a boundary and the resumer's
    /// for each coroutine resume, then the async origin chain of the loop callback.
    fn frames(&self) -> Result<(), String> {
        let (thread, level, origin) = {
            let st = self.st.borrow();
            let p = st.paused.as_ref().ok_or("the program is not stopped")?;
            if p.frames.is_some() {
                return Ok(());
            }
            (p.thread.clone(), p.level, p.origin.clone())
        };
        let mut recs = Vec::new();
        let mut cur = Some((thread, level));
        let mut hops = 0;
        'threads: while let Some((th, lvl)) = cur.take() {
            let list: Vec<Table> = self
                .helper
                .call(&self.lua, "frames", (th.clone(), lvl))
                .map_err(|e| e.to_string())?;
            for f in list {
                let source: String = f.get("source").unwrap_or_default();
                if source == "=dispatch" {
                    break 'threads;
                }
                if source == "=luvit-debugger" {
                    continue;
                }
                let what: String = f.get("what").unwrap_or_default();
                let name: String = f.get("name").unwrap_or_default();
                let l: i32 = f.get("level").unwrap_or(0);
                if what == "C" {
                    // A native frame (pcall, resume ...): shown by name, with no source.
                    recs.push(FrameRec {
                        name,
                        chunk: None,
                        line: 0,
                        at: None,
                    });
                    continue;
                }
                recs.push(FrameRec {
                    name,
                    chunk: Some(source),
                    line: f.get("line").unwrap_or(0),
                    at: Some((th.clone(), l)),
                });
            }
            let state = th.to_pointer() as usize;
            let parent = self.st.borrow().resumers.get(&state).copied();
            hops += 1;
            if let Some(p) = parent.filter(|_| hops < 64) {
                let pth = inspect::thread_of(&self.lua, p as *mut mlua::ffi::lua_State)
                    .map_err(|e| e.to_string())?;
                // The resumer's first Lua frame is where it called resume.
                let top: Vec<Table> = self
                    .helper
                    .call(&self.lua, "frames", (pth.clone(), 0, 4))
                    .unwrap_or_default();
                let site = top.iter().find_map(|f| {
                    let what: String = f.get("what").ok()?;
                    let src: String = f.get("source").ok()?;
                    let line: i32 = f.get("line").ok()?;
                    (what != "C" && src != "=luvit-debugger")
                        .then(|| format!("{}:{line}", src.trim_start_matches('@')))
                });
                recs.push(FrameRec {
                    name: match site {
                        Some(s) => format!("coroutine resumed at {s}"),
                        None => "coroutine resumed".into(),
                    },
                    chunk: None,
                    line: -1,
                    at: None,
                });
                cur = Some((pth, 0));
            }
        }
        let mut o = origin;
        while let Some(or) = o {
            let label = match &or.site {
                Some(site) => {
                    let path = site.source.strip_prefix('@').unwrap_or(&site.source);
                    format!("{} scheduled at {}:{}", or.label(), path, site.line)
                }
                None => format!("{} callback", or.label()),
            };
            recs.push(FrameRec {
                name: label,
                chunk: or.site.as_ref().map(|s| s.source.clone()),
                line: -(or.site.as_ref().map(|s| s.line as i32).unwrap_or(0)) - 2,
                at: None,
            });
            o = or.parent.clone();
        }
        if let Some(p) = self.st.borrow_mut().paused.as_mut() {
            p.frames = Some(recs);
        }
        Ok(())
    }

    fn stack_trace(&self, req: &Request) -> Result<Json, String> {
        self.frames()?;
        let start = req.i64("startFrame").unwrap_or(0).max(0) as usize;
        let levels = req.i64("levels").unwrap_or(0).max(0) as usize;
        let rows: Vec<(usize, String, Option<String>, i32, bool)> = {
            let st = self.st.borrow();
            let frames = st
                .paused
                .as_ref()
                .and_then(|p| p.frames.as_ref())
                .ok_or("the program is not stopped")?;
            frames
                .iter()
                .enumerate()
                .map(|(i, f)| (i, f.name.clone(), f.chunk.clone(), f.line, f.at.is_some()))
                .collect()
        };
        let total = rows.len();
        let end = if levels == 0 {
            total
        } else {
            (start + levels).min(total)
        };
        let mut out = Vec::new();
        for (i, name, chunk, line, real) in rows.into_iter().take(end).skip(start) {
            let mut f = json!({ "id": i + 1, "name": name, "line": 0, "column": 0 });
            if real {
                if let Some(c) = &chunk {
                    if let Some(s) = self.source_json(c) {
                        f["source"] = s;
                        f["line"] = json!(line);
                        f["column"] = json!(1);
                    }
                    if c.starts_with("@builtin:") {
                        f["presentationHint"] = json!("subtle");
                    }
                }
            } else if line < -1 {
                // An async origin: a label that still opens the scheduling site.
                f["presentationHint"] = json!("label");
                if let Some(s) = chunk.as_deref().and_then(|c| self.source_json(c)) {
                    f["source"] = s;
                    f["line"] = json!(-line - 2);
                    f["column"] = json!(1);
                }
            } else {
                f["presentationHint"] = json!(if chunk.is_none() && line == 0 {
                    "subtle"
                } else {
                    "label"
                });
            }
            out.push(f);
        }
        Ok(json!({ "stackFrames": out, "totalFrames": total }))
    }

    /// The coroutine and level of frame `id` (1-based), or the top frame.
    fn frame_at(&self, id: Option<i64>) -> Result<Option<(mlua::Thread, i32)>, String> {
        let st = self.st.borrow();
        let Some(p) = st.paused.as_ref() else {
            return Ok(None);
        };
        match id {
            None => Ok(Some((p.thread.clone(), p.level))),
            Some(id) => {
                let frames = p.frames.as_ref().ok_or("ask for stackTrace first")?;
                let f = frames
                    .get((id - 1).max(0) as usize)
                    .ok_or_else(|| format!("no frame {id}"))?;
                f.at.clone()
                    .map(Some)
                    .ok_or_else(|| format!("frame {id} is a label, not a Lua frame"))
            }
        }
    }

    fn push_ref(&self, t: Target) -> usize {
        let mut st = self.st.borrow_mut();
        match st.paused.as_mut() {
            Some(p) => {
                p.refs.push(t);
                p.refs.len()
            }
            None => 0,
        }
    }

    fn scopes(&self, req: &Request) -> Result<Json, String> {
        let id = req.need_i64("frameId")?;
        let (th, level) = self
            .frame_at(Some(id))?
            .ok_or("the program is not stopped")?;
        let idx = (id - 1) as usize;
        let nvar: i64 = self
            .helper
            .call::<Table>(&self.lua, "varargs", (th, level))
            .map(|t| t.raw_len() as i64)
            .unwrap_or(0);
        let mut scopes = vec![
            json!({ "name": "Locals", "presentationHint": "locals",
                    "variablesReference": self.push_ref(Target::Locals(idx)), "expensive": false }),
            json!({ "name": "Upvalues", "variablesReference": self.push_ref(Target::Upvalues(idx)),
                    "expensive": false }),
        ];
        if nvar > 0 {
            scopes.push(json!({ "name": "Varargs", "presentationHint": "arguments",
                "variablesReference": self.push_ref(Target::Varargs(idx)), "expensive": false,
                "indexedVariables": nvar }));
        }
        scopes.push(
            json!({ "name": "Globals", "variablesReference": self.push_ref(Target::Globals(idx)),
            "expensive": true }),
        );
        Ok(json!({ "scopes": scopes }))
    }

    fn frame_of_index(&self, idx: usize) -> Result<(mlua::Thread, i32), String> {
        self.frame_at(Some(idx as i64 + 1))?
            .ok_or_else(|| "the program is not stopped".into())
    }

    /// The children behind a variables handle: a Lua list of `{ name, value, key }` rows, read
    /// a row at a time ([`row`]): a table's 10,000 fields held as mlua values at once overflowed
    /// the 8,000 C-stack slots mlua keeps them in.
    fn children(
        &self,
        reference: i64,
        filter: Option<&str>,
        start: i64,
        count: i64,
    ) -> Result<Table, String> {
        enum What {
            Frame(&'static str, usize),
            Globals(usize),
            Value(Value),
        }
        let what = {
            let st = self.st.borrow();
            let p = st.paused.as_ref().ok_or("the program is not stopped")?;
            match p.refs.get((reference - 1).max(0) as usize) {
                None => return Err(format!("variablesReference {reference} is not valid now")),
                Some(Target::Locals(i)) => What::Frame("locals", *i),
                Some(Target::Varargs(i)) => What::Frame("varargs", *i),
                Some(Target::Upvalues(i)) => What::Frame("upvalues", *i),
                Some(Target::Globals(i)) => What::Globals(*i),
                Some(Target::Value(k)) => {
                    What::Value(self.lua.registry_value(k).map_err(|e| e.to_string())?)
                }
            }
        };
        let list: Table = match what {
            What::Frame(f, i) => {
                let (th, level) = self.frame_of_index(i)?;
                self.helper.call(&self.lua, f, (th, level))
            }
            What::Globals(i) => {
                let (th, level) = self.frame_of_index(i)?;
                let env: Value = self
                    .helper
                    .call(&self.lua, "globals", (th, level))
                    .map_err(|e| e.to_string())?;
                self.helper
                    .call(&self.lua, "children", (env, filter, start, count))
            }
            What::Value(v) => self
                .helper
                .call(&self.lua, "children", (v, filter, start, count)),
        }
        .map_err(|e| e.to_string())?;
        Ok(list)
    }

    /// The key of the child named `name` in a [`Session::children`] list (`Nil` for a child
    /// with no key, as a metatable), or `None` when no child has that name.
    fn child_key(list: &Table, name: &str) -> Option<Value> {
        (1..=list.raw_len()).find_map(|i| {
            let (n, _, key) = row(list, i);
            (n == name).then_some(key)
        })
    }

    fn variables(&self, req: &Request) -> Result<Json, String> {
        let reference = req.need_i64("variablesReference")?;
        let filter = req.str("filter");
        let start = req.i64("start").unwrap_or(0);
        let count = req.i64("count").unwrap_or(0);
        let kids = self.children(reference, filter, start, count)?;
        let mut out = Vec::new();
        for i in 1..=kids.raw_len() {
            let (name, value, _) = row(&kids, i);
            out.push(self.variable(&name, value));
        }
        Ok(json!({ "variables": out }))
    }

    fn variable(&self, name: &str, value: Value) -> Json {
        let mut refs = Vec::new();
        let mut v = inspect::variable(&self.lua, &self.helper, &mut refs, name, value);
        if let Some(t) = refs.pop() {
            v["variablesReference"] = json!(self.push_ref(t));
        }
        v
    }

    fn evaluate(&self, req: &Request) -> Result<Json, String> {
        let expr = req.need_str("expression")?;
        let frame = self.frame_at(req.i64("frameId"))?;
        let (th, level) = match frame {
            Some((t, l)) => (Some(t), l),
            None => (None, 0),
        };
        let printed = std::rc::Rc::new(std::cell::RefCell::new(String::new()));
        let sink = printed.clone();
        let out = self
            .lua
            .create_function(move |_, s: String| {
                sink.borrow_mut().push_str(&s);
                Ok(())
            })
            .map_err(|e| e.to_string())?;
        let r: (bool, Value) = self
            .helper
            .call(&self.lua, "evaluate", (th, level, expr, out))
            .map_err(|e| e.to_string())?;
        let text = printed.borrow().clone();
        if !text.is_empty() {
            self.output("stdout", &text, None);
        }
        match r {
            (false, Value::String(e)) => Err(e.to_string_lossy()),
            (false, _) => Err("evaluation failed".into()),
            (true, Value::Table(vals)) => {
                let n: i64 = vals.get("n").unwrap_or(0);
                if n == 0 {
                    return Ok(json!({ "result": "", "variablesReference": 0 }));
                }
                if n == 1 {
                    let v = self.variable("", vals.raw_get(1).unwrap_or(Value::Nil));
                    return Ok(evaluate_body(v));
                }
                let mut shown = Vec::new();
                for i in 1..=n {
                    let v = self.variable("", vals.raw_get(i).unwrap_or(Value::Nil));
                    shown.push(v["value"].as_str().unwrap_or("").to_string());
                }
                let _ = vals.raw_set("n", Value::Nil);
                let reference = match self.lua.create_registry_value(vals) {
                    Ok(k) => self.push_ref(Target::Value(k)),
                    Err(_) => 0,
                };
                Ok(json!({ "result": shown.join(", "), "variablesReference": reference }))
            }
            (true, _) => Ok(json!({ "result": "nil", "variablesReference": 0 })),
        }
    }

    fn set_variable(&self, req: &Request) -> Result<Json, String> {
        let reference = req.need_i64("variablesReference")?;
        let name = req.need_str("name")?;
        let expr = req.need_str("value")?;
        let (th, level) = self.frame_at(None)?.ok_or("the program is not stopped")?;
        let r: (bool, Value) = self
            .helper
            .call(&self.lua, "evaluate", (th, level, expr, Value::Nil))
            .map_err(|e| e.to_string())?;
        let value = match r {
            (true, Value::Table(t)) => t.raw_get::<Value>(1).unwrap_or(Value::Nil),
            (_, Value::String(e)) => return Err(e.to_string_lossy()),
            _ => return Err("the new value could not be computed".into()),
        };
        let target = {
            let st = self.st.borrow();
            let p = st.paused.as_ref().ok_or("the program is not stopped")?;
            match p.refs.get((reference - 1).max(0) as usize) {
                Some(Target::Locals(i)) => ("setlocal", Some(*i), None),
                Some(Target::Varargs(i)) => ("setlocal", Some(*i), None),
                Some(Target::Upvalues(i)) => ("setupvalue", Some(*i), None),
                Some(Target::Globals(i)) => ("global", Some(*i), None),
                Some(Target::Value(k)) => (
                    "field",
                    None,
                    Some(self.lua.registry_value(k).map_err(|e| e.to_string())?),
                ),
                None => return Err(format!("variablesReference {reference} is not valid now")),
            }
        };
        let kids = self.children(reference, None, 0, 0)?;
        let found = Self::child_key(&kids, name);
        match target {
            ("setlocal", Some(i), _) | ("setupvalue", Some(i), _) => {
                let key = found.ok_or_else(|| format!("no variable '{name}' here"))?;
                let (th, level) = self.frame_of_index(i)?;
                let ok: bool = self
                    .helper
                    .call(&self.lua, target.0, (th, level, key, value.clone()))
                    .map_err(|e| e.to_string())?;
                if !ok {
                    return Err(format!("cannot set '{name}'"));
                }
            }
            ("global", Some(i), _) => {
                let (th, level) = self.frame_of_index(i)?;
                let env: Table = self
                    .helper
                    .call(&self.lua, "globals", (th, level))
                    .map_err(|e| e.to_string())?;
                let key = match found {
                    Some(k) => k,
                    None => Value::String(self.lua.create_string(name).map_err(|e| e.to_string())?),
                };
                env.raw_set(key, value.clone()).map_err(|e| e.to_string())?;
            }
            (_, _, Some(Value::Table(t))) => {
                let key = found
                    .filter(|k| !k.is_nil())
                    .ok_or_else(|| format!("no field '{name}' here"))?;
                t.raw_set(key, value.clone()).map_err(|e| e.to_string())?;
            }
            _ => return Err(format!("'{name}' cannot be set")),
        }
        let v = self.variable(name, value);
        Ok(
            json!({ "value": v["value"], "type": v["type"], "variablesReference": v["variablesReference"] }),
        )
    }

    fn completions(&self, req: &Request) -> Result<Json, String> {
        let text = req.need_str("text")?;
        let column = req.i64("column").unwrap_or(text.len() as i64 + 1).max(1) as usize;
        let upto: String = text.chars().take(column - 1).collect();
        let frame = self.frame_at(req.i64("frameId"))?;
        let (th, level) = match frame {
            Some((t, l)) => (Some(t), l),
            None => (None, 0),
        };
        let names: Vec<String> = self
            .helper
            .call(&self.lua, "completions", (th, level, upto.as_str()))
            .map_err(|e| e.to_string())?;
        let targets: Vec<Json> = names.iter().map(|n| json!({ "label": n })).collect();
        Ok(json!({ "targets": targets }))
    }

    fn source(&self, req: &Request) -> Result<Json, String> {
        let r = req
            .i64("sourceReference")
            .or_else(|| {
                req.args
                    .get("source")
                    .and_then(|s| s.get("sourceReference"))
                    .and_then(Json::as_i64)
            })
            .ok_or("source: sourceReference is required")?;
        let chunk = self
            .st
            .borrow()
            .source_refs
            .get((r - 1).max(0) as usize)
            .cloned()
            .ok_or_else(|| format!("no source with reference {r}"))?;
        let text = (self.sources)(&chunk).ok_or_else(|| format!("no text for {chunk}"))?;
        Ok(json!({ "content": text, "mimeType": "text/x-lua" }))
    }

    fn exception_info(&self) -> Result<Json, String> {
        let st = self.st.borrow();
        let p = st.paused.as_ref().ok_or("the program is not stopped")?;
        let msg = p.error.clone().ok_or("not stopped on an exception")?;
        let mode = if self.caught.get() {
            "always"
        } else {
            "unhandled"
        };
        Ok(json!({
            "exceptionId": "error", "description": msg, "breakMode": mode,
            "details": { "message": msg },
        }))
    }
}

enum StepKind {
    Over,
    In,
    Out,
}

fn evaluate_body(v: Json) -> Json {
    let mut body = json!({ "result": v["value"], "type": v["type"],
        "variablesReference": v["variablesReference"] });
    for k in ["indexedVariables", "namedVariables"] {
        if let Some(x) = v.get(k) {
            body[k] = x.clone();
        }
    }
    body
}

/// What this debugger does, exactly.
pub(crate) fn capabilities() -> Json {
    json!({
        "supportsConfigurationDoneRequest": true,
        "supportsConditionalBreakpoints": true,
        "supportsFunctionBreakpoints": true,
        "supportsHitConditionalBreakpoints": true,
        "supportsLogPoints": true,
        "supportsEvaluateForHovers": true,
        "supportsSetVariable": true,
        "supportsCompletionsRequest": true,
        "completionTriggerCharacters": [".", ":"],
        "supportsExceptionInfoRequest": true,
        "supportsTerminateRequest": true,
        "supportsLoadedSourcesRequest": true,
        "supportTerminateDebuggee": true,
        "supportsDelayedStackTraceLoading": true,
        "exceptionBreakpointFilters": [
            { "filter": "uncaught", "label": "Uncaught Errors", "default": true },
            { "filter": "all", "label": "All Errors",
              "description": "also errors caught by pcall and xpcall", "default": false },
        ],
    })
}

/// Ends the program as a SIGTERM would (its handlers, if any, run when it resumes).
fn terminate_program() {
    // SAFETY: raising a signal at our own process.
    unsafe {
        libc::raise(libc::SIGTERM);
    }
}

/// An absolute, lexically normalized path (`.` and `..` resolved, no symlinks followed), the
/// way the runtime's `require` names the chunks it loads.
pub fn normalize_path(path: &str) -> String {
    let joined = if path.starts_with('/') {
        path.to_string()
    } else {
        let cwd = std::env::current_dir()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!("{cwd}/{path}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for seg in joined.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Row `i` of a children list: (name, value, key).
fn row(list: &Table, i: usize) -> (String, Value, Value) {
    let Ok(t) = list.raw_get::<Table>(i) else {
        return (String::new(), Value::Nil, Value::Nil);
    };
    (
        t.raw_get::<String>(1).unwrap_or_default(),
        t.raw_get::<Value>(2).unwrap_or(Value::Nil),
        t.raw_get::<Value>(3).unwrap_or(Value::Nil),
    )
}

#[cfg(test)]
mod tests {
    use super::normalize_path;

    #[test]
    fn breakpoint_paths_are_named_like_loaded_chunks() {
        assert_eq!(normalize_path("/a/./b/../c.lua"), "/a/c.lua");
        assert_eq!(normalize_path("//a//b.lua"), "/a/b.lua");
        let rel = normalize_path("x/y.lua");
        assert!(rel.starts_with('/') && rel.ends_with("/x/y.lua"), "{rel}");
    }
}
