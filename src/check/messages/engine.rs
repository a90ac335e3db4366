//! libxml2 (through the `libxml` crate's bindings) behind a safe face: parse a message,
//! compile a schema, validate a document against it, and collect what libxml2 reports
//! with its line and element. This is the module's only `unsafe` code.
//!
//! Global state, set once per process ([`init`]): libxml2's parser and schema types are
//! initialised, and its external entity loader is replaced by [`from_memory`], which serves
//! the embedded schemas (`schemas::by_url`) and refuses everything else: no file, no
//! network, no DTD is ever loaded, whatever a document or schema asks for. Compiled schemas
//! are cached per thread (libxml2's schema and validation contexts are neither `Send` nor
//! `Sync`; the confined reader is single-threaded, so per thread is per process there).
//!
//! The bindings are the crate's bundled ones, made from libxml2 2.9.14 (see
//! `.cargo/config.toml`); only functions and the public, long-stable `xmlError`, `xmlNode`
//! and `xmlParserInput` structures are used, never the parser context's fields.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::ptr;
use std::rc::Rc;
use std::sync::Once;

use libxml::bindings as xml;
use libxml::tree::Document;

use super::schemas::{self, MessageType};

/// The most errors kept from one parse or validation; more are counted, not kept. libxml2
/// 2.9 reports every error, and a hostile file can make one every few bytes.
pub(crate) const MAX_KEPT: usize = 100;

/// The longest value of an element kept with its error (in characters); a text shows less.
const MAX_VALUE_CHARS: usize = 256;

/// How a message is parsed: never recover from an error, never touch the network, no
/// entity substitution and no DTD loading (their options are left out), no messages of
/// libxml2's own on stderr (the errors are collected instead), and line numbers past 65535
/// kept (`BIG_LINES`). Without `HUGE`, libxml2 refuses nesting deeper than 256 elements and
/// text nodes over 10 MB.
const MESSAGE_OPTIONS: c_int = (xml::xmlParserOption_XML_PARSE_NONET
    | xml::xmlParserOption_XML_PARSE_NOERROR
    | xml::xmlParserOption_XML_PARSE_NOWARNING
    | xml::xmlParserOption_XML_PARSE_BIG_LINES) as c_int;

/// How an embedded schema is parsed.
const SCHEMA_OPTIONS: c_int = (xml::xmlParserOption_XML_PARSE_NONET
    | xml::xmlParserOption_XML_PARSE_NOERROR
    | xml::xmlParserOption_XML_PARSE_NOWARNING) as c_int;

/// One error libxml2 reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reported {
    /// The line in the document (0 when libxml2 gave none).
    pub(crate) line: u64,
    /// libxml2's error code (`xmlParserErrors`).
    pub(crate) code: i32,
    /// libxml2's message, in English, as it gave it (trailing newline removed).
    pub(crate) message: String,
    /// The element (or `@attribute`) the error is about, as a path of local names from the
    /// root's children down, with a position where siblings share a name
    /// (`Client/AangevraagdeProducten/AangevraagdProduct[1]/ToewijzingEinddatum`); the
    /// root's own name when the error is about the root; empty without a node.
    pub(crate) path: String,
    /// The local name of that element or attribute.
    pub(crate) name: String,
    /// Its text, when it holds only text (a value a type or facet refused), cut to
    /// `MAX_VALUE_CHARS` characters; unredacted.
    pub(crate) value: Option<String>,
}

/// What libxml2 reported during one call: the first `MAX_KEPT` errors and how many more.
/// Warnings are not errors and are left out.
#[derive(Debug, Default)]
pub(crate) struct Reports {
    pub(crate) kept: Vec<Reported>,
    pub(crate) more: u64,
}

/// libxml2 could not do its part (allocation failed, an embedded schema did not compile):
/// not the file's fault.
#[derive(Debug, thiserror::Error)]
#[error("libxml2: {0}")]
pub(crate) struct EngineError(pub(crate) String);

/// Initialises libxml2 once per process and installs the loader (see the module doc).
pub(crate) fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        libxml::init_parser();
        // SAFETY: called once, before any schema is parsed here; `from_memory` has the
        // signature libxml2 calls its loader with. `xmlSchemaInitTypes` is not thread-safe
        // on its own, hence inside the `Once` (`xmlSchemaParse` calls it again: a no-op).
        unsafe {
            xml::xmlSchemaInitTypes();
            xml::xmlSetExternalEntityLoader(Some(from_memory));
        }
    });
}

/// libxml2's external entity loader for this process: the embedded schema named by `url`
/// (`mem:/jw/basisschema.xsd`), read from memory; any other URL (a file, `http:`, a DTD
/// or external entity of a delivered file) is refused with null, which libxml2 reports as
/// an entity that failed to load.
unsafe extern "C" fn from_memory(
    url: *const c_char,
    _public_id: *const c_char,
    ctxt: xml::xmlParserCtxtPtr,
) -> xml::xmlParserInputPtr {
    if url.is_null() || ctxt.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: libxml2 passes a NUL-terminated URL that lives for this call.
    let url_text = unsafe { CStr::from_ptr(url) };
    let Some(text) = url_text.to_str().ok().and_then(schemas::by_url) else {
        return ptr::null_mut();
    };
    let Ok(len) = c_int::try_from(text.len()) else {
        return ptr::null_mut();
    };
    // `CreateMem` copies the bytes (`CreateStatic`, which would not, reads its input twice
    // in 2.9.14).
    // SAFETY: `text` is valid for `len` bytes; libxml2 copies it into the new buffer.
    let buffer = unsafe {
        xml::xmlParserInputBufferCreateMem(
            text.as_ptr().cast(),
            len,
            xml::xmlCharEncoding_XML_CHAR_ENCODING_NONE,
        )
    };
    if buffer.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: `ctxt` is the live parser context libxml2 called us for; the new input
    // stream takes `buffer` over when it is made.
    let input = unsafe {
        xml::xmlNewIOInputStream(ctxt, buffer, xml::xmlCharEncoding_XML_CHAR_ENCODING_NONE)
    };
    if input.is_null() {
        // SAFETY: `buffer` was not taken over, so it is still ours to free.
        unsafe { xml::xmlFreeParserInputBuffer(buffer) };
        return ptr::null_mut();
    }
    // The input's file name becomes the loaded document's URL: the base its own imports
    // resolve against. libxml2 frees it with the input.
    // SAFETY: `input` is a fresh input stream; `xmlCharStrdup` copies `url` with xmlMalloc.
    unsafe { (*input).filename = xml::xmlCharStrdup(url).cast_const().cast() };
    input
}

/// Keeps what libxml2 reports in the `Reports` that `data` points to: the structured error
/// callback of the schema contexts, and of the current thread while a document is parsed.
///
/// libxml2 before 2.12 (and the bindings used here, 2.9.14's) declare this callback with a
/// mutable `xmlErrorPtr`; 2.12 made it `const xmlError *`. Bindings generated against a
/// newer libxml2 need `*const xml::xmlError` here (the same ABI).
unsafe extern "C" fn collect(data: *mut c_void, error: xml::xmlErrorPtr) {
    if data.is_null() || error.is_null() {
        return;
    }
    // SAFETY: every registration of `collect` passes a `Reports` that outlives the call
    // that reports into it, and no other reference to it is in use meanwhile.
    let reports = unsafe { &mut *data.cast::<Reports>() };
    // SAFETY: libxml2 passes an error that is valid for this call.
    let error = unsafe { &*error };
    if error.level < xml::xmlErrorLevel_XML_ERR_ERROR {
        return;
    }
    if reports.kept.len() >= MAX_KEPT {
        reports.more += 1;
        return;
    }
    // SAFETY: as above; the error's node, if any, belongs to the document being parsed or
    // validated, alive during the call.
    reports.kept.push(unsafe { reported(error) });
}

/// The error as kept. Must not panic: it runs inside a C callback.
///
/// # Safety
/// `error.message` is null or a C string, and `error.node` is null or a node of a live
/// document.
unsafe fn reported(error: &xml::xmlError) -> Reported {
    let message = if error.message.is_null() {
        String::new()
    } else {
        // SAFETY: a non-null message is a NUL-terminated C string (see the contract).
        let text = unsafe { CStr::from_ptr(error.message) };
        text.to_string_lossy().trim_end().to_owned()
    };
    let node: *const xml::xmlNode = error.node.cast_const().cast();
    // SAFETY: the node, if any, is alive (see the contract).
    let (path, name, value) = unsafe { describe(node) };
    Reported {
        line: u64::try_from(error.line).unwrap_or(0),
        code: error.code,
        message,
        path,
        name,
        value,
    }
}

/// The readable path, local name and (text-only) value of `node`.
///
/// # Safety
/// `node` is null or an element or attribute node of a live document (an attribute node
/// shares the fields read here with an element).
unsafe fn describe(node: *const xml::xmlNode) -> (String, String, Option<String>) {
    // SAFETY: see the contract; each pointer followed is one libxml2 keeps valid in a tree.
    unsafe {
        if node.is_null() || !is_named((*node).type_) {
            return (String::new(), String::new(), None);
        }
        let mut steps = Vec::new();
        let mut cur = node;
        while !cur.is_null() && is_named((*cur).type_) {
            let name = name_of(cur);
            if (*cur).type_ == xml::xmlElementType_XML_ATTRIBUTE_NODE {
                steps.push(format!("@{name}"));
            } else {
                match position(cur) {
                    Some(n) => steps.push(format!("{name}[{n}]")),
                    None => steps.push(name),
                }
            }
            cur = (*cur).parent;
        }
        steps.reverse();
        // The root (`Bericht`) stands before every path: left out, unless it is the node.
        if steps.len() > 1 {
            steps.remove(0);
        }
        let value = text_only(node).then(|| content(node));
        (steps.join("/"), name_of(node), value)
    }
}

fn is_named(node_type: xml::xmlElementType) -> bool {
    node_type == xml::xmlElementType_XML_ELEMENT_NODE
        || node_type == xml::xmlElementType_XML_ATTRIBUTE_NODE
}

/// # Safety
/// `node` is a live node.
unsafe fn name_of(node: *const xml::xmlNode) -> String {
    // SAFETY: see the contract; a named node's name is a C string.
    unsafe {
        if (*node).name.is_null() {
            return String::new();
        }
        CStr::from_ptr((*node).name.cast())
            .to_string_lossy()
            .into_owned()
    }
}

/// The 1-based position of an element among its siblings of the same name and namespace,
/// when there is more than one of them.
///
/// # Safety
/// `node` is a live element node.
unsafe fn position(node: *const xml::xmlNode) -> Option<usize> {
    // SAFETY: see the contract; siblings are linked through live nodes.
    unsafe {
        let parent = (*node).parent;
        if parent.is_null() || (*node).name.is_null() {
            return None;
        }
        let same = |other: *const xml::xmlNode| {
            (*other).type_ == xml::xmlElementType_XML_ELEMENT_NODE
                && !(*other).name.is_null()
                && CStr::from_ptr((*other).name.cast()) == CStr::from_ptr((*node).name.cast())
                && namespace(other) == namespace(node)
        };
        let (mut index, mut count) = (0, 0);
        let mut cur: *const xml::xmlNode = (*parent).children;
        while !cur.is_null() {
            if same(cur) {
                count += 1;
                if ptr::eq(cur, node) {
                    index = count;
                }
            }
            cur = (*cur).next;
        }
        (count > 1).then_some(index)
    }
}

/// # Safety
/// `node` is a live node.
unsafe fn namespace<'a>(node: *const xml::xmlNode) -> Option<&'a CStr> {
    // SAFETY: see the contract; a namespace's href is a C string.
    unsafe {
        let ns = (*node).ns;
        if ns.is_null() || (*ns).href.is_null() {
            return None;
        }
        Some(CStr::from_ptr((*ns).href.cast()))
    }
}

/// Whether a node holds only text (an attribute, or an element without child elements).
///
/// # Safety
/// `node` is a live element or attribute node.
unsafe fn text_only(node: *const xml::xmlNode) -> bool {
    // SAFETY: see the contract.
    unsafe {
        let mut cur: *const xml::xmlNode = (*node).children;
        while !cur.is_null() {
            let t = (*cur).type_;
            if t != xml::xmlElementType_XML_TEXT_NODE
                && t != xml::xmlElementType_XML_CDATA_SECTION_NODE
            {
                return false;
            }
            cur = (*cur).next;
        }
        true
    }
}

/// The text of a node, cut to `MAX_VALUE_CHARS` characters.
///
/// # Safety
/// `node` is a live node.
unsafe fn content(node: *const xml::xmlNode) -> String {
    // SAFETY: see the contract; `xmlNodeGetContent` returns a copy the caller frees.
    unsafe {
        let text = xml::xmlNodeGetContent(node);
        if text.is_null() {
            return String::new();
        }
        let value: String = CStr::from_ptr(text.cast())
            .to_string_lossy()
            .chars()
            .take(MAX_VALUE_CHARS)
            .collect();
        free(text.cast());
        value
    }
}

/// Frees memory libxml2 allocated for the caller.
///
/// # Safety
/// `p` was allocated by libxml2 (`xmlMalloc`) and is not used afterwards.
unsafe fn free(p: *mut c_void) {
    // SAFETY: `xmlFree` is set at libxml2's initialisation and never changed here; reading
    // it copies the function pointer.
    if let Some(free) = unsafe { xml::xmlFree } {
        // SAFETY: see the contract.
        unsafe { free(p) };
    }
}

/// Routes the current thread's libxml2 errors into a `Reports` while it lives, and puts
/// back what was there before when dropped. Parser errors take this way; the schema
/// contexts have handlers of their own.
struct ThreadErrors {
    saved: xml::xmlStructuredErrorFunc,
    saved_data: *mut c_void,
}

impl ThreadErrors {
    /// # Safety
    /// `reports` outlives the returned guard, and is not used otherwise while it lives.
    unsafe fn route_to(reports: *mut Reports) -> Self {
        // SAFETY: these accessors return this thread's handler slots, valid for the thread.
        unsafe {
            let saved = ThreadErrors {
                saved: *xml::__xmlStructuredError(),
                saved_data: *xml::__xmlStructuredErrorContext(),
            };
            xml::xmlSetStructuredErrorFunc(reports.cast(), Some(collect));
            saved
        }
    }
}

impl Drop for ThreadErrors {
    fn drop(&mut self) {
        // SAFETY: puts back the handler and data this thread had before.
        unsafe { xml::xmlSetStructuredErrorFunc(self.saved_data, self.saved) };
    }
}

/// Parses a message (see `MESSAGE_OPTIONS`): its document, or the errors that made it not
/// well-formed XML with namespaces (an error of any level above a warning, such as an
/// undeclared prefix, counts, even where libxml2 would still hand out a document).
pub(crate) fn parse(bytes: &[u8]) -> Result<Result<Document, Reports>, EngineError> {
    init();
    let len = c_int::try_from(bytes.len())
        .map_err(|_| EngineError("a document over 2 GiB cannot be parsed".into()))?;
    // SAFETY: a fresh context, freed below.
    let ctxt = unsafe { xml::xmlNewParserCtxt() };
    if ctxt.is_null() {
        return Err(EngineError("no parser context (out of memory)".into()));
    }
    let mut reports = Box::<Reports>::default();
    let doc = {
        // SAFETY: `reports` outlives the guard, and is not touched until it is dropped.
        let _routed = unsafe { ThreadErrors::route_to(&mut *reports) };
        // SAFETY: `bytes` is valid for `len` bytes during the call; no URL, no encoding
        // override.
        unsafe {
            xml::xmlCtxtReadMemory(
                ctxt,
                bytes.as_ptr().cast(),
                len,
                ptr::null(),
                ptr::null(),
                MESSAGE_OPTIONS,
            )
        }
    };
    // SAFETY: the context is ours and no longer used; the document does not refer to it.
    unsafe { xml::xmlFreeParserCtxt(ctxt) };
    if doc.is_null() || !reports.kept.is_empty() {
        if !doc.is_null() {
            // SAFETY: the document is ours and handed out to no one.
            unsafe { xml::xmlFreeDoc(doc) };
        }
        return Ok(Err(*reports));
    }
    Ok(Ok(Document::new_ptr(doc)))
}

/// Whether `doc` has a document type declaration (internal subset).
pub(crate) fn has_doctype(doc: &Document) -> bool {
    // SAFETY: `doc` owns a live document.
    !unsafe { xml::xmlGetIntSubset(doc.doc_ptr()) }.is_null()
}

/// A compiled schema, with the document it was compiled from (kept as long as the schema,
/// which may point into it).
struct Compiled {
    schema: xml::xmlSchemaPtr,
    source: xml::xmlDocPtr,
}

impl Drop for Compiled {
    fn drop(&mut self) {
        // SAFETY: both are ours; the schema goes first, as it may point into the document.
        unsafe {
            xml::xmlSchemaFree(self.schema);
            xml::xmlFreeDoc(self.source);
        }
    }
}

thread_local! {
    /// The schemas this thread compiled, by message type.
    static COMPILED: RefCell<HashMap<MessageType, Rc<Compiled>>> = RefCell::new(HashMap::new());
}

/// The compiled schema of `kind`, compiled on first use in this thread.
fn compiled(kind: MessageType) -> Result<Rc<Compiled>, EngineError> {
    if let Some(found) = COMPILED.with(|c| c.borrow().get(&kind).cloned()) {
        return Ok(found);
    }
    let fresh = Rc::new(compile(kind)?);
    COMPILED.with(|c| c.borrow_mut().insert(kind, Rc::clone(&fresh)));
    Ok(fresh)
}

/// Compiles the schema of `kind` from its embedded text, parsed under its `mem:` URL so
/// that its import of `basisschema.xsd` comes through `from_memory`.
fn compile(kind: MessageType) -> Result<Compiled, EngineError> {
    init();
    let text = kind.xsd();
    let len = c_int::try_from(text.len()).map_err(|_| EngineError("schema too large".into()))?;
    let url = CString::new(kind.url()).map_err(|_| EngineError("schema URL".into()))?;
    let mut reports = Box::<Reports>::default();
    let failed = |reports: &Reports| {
        let said: Vec<&str> = reports.kept.iter().map(|r| r.message.as_str()).collect();
        EngineError(format!(
            "the schema of {kind} does not compile: {}",
            said.join("; ")
        ))
    };
    // One pointer for both handlers that write into `reports` (the thread's and the
    // schema parser's): a second `&mut` reborrow would invalidate the first while libxml2
    // still holds it.
    let sink: *mut Reports = &raw mut *reports;
    // Errors of the documents parsed on the way (the schema's imports) come by the thread.
    // SAFETY: `reports` outlives the guard; it is read only after the guard is dropped.
    let routed = unsafe { ThreadErrors::route_to(sink) };
    // SAFETY: `text` is valid for `len` bytes; `url` is a C string, copied by libxml2.
    let source = unsafe {
        xml::xmlReadMemory(
            text.as_ptr().cast(),
            len,
            url.as_ptr(),
            ptr::null(),
            SCHEMA_OPTIONS,
        )
    };
    if source.is_null() {
        drop(routed);
        return Err(failed(&reports));
    }
    // SAFETY: `source` is a live document, kept (in `Compiled`) as long as the schema.
    let parser = unsafe { xml::xmlSchemaNewDocParserCtxt(source) };
    if parser.is_null() {
        drop(routed);
        // SAFETY: ours, handed out to no one.
        unsafe { xml::xmlFreeDoc(source) };
        return Err(EngineError(
            "no schema parser context (out of memory)".into(),
        ));
    }
    // SAFETY: `parser` is live; `reports` outlives it (freed below, before `reports`).
    let schema = unsafe {
        xml::xmlSchemaSetParserStructuredErrors(parser, Some(collect), sink.cast());
        let schema = xml::xmlSchemaParse(parser);
        xml::xmlSchemaFreeParserCtxt(parser);
        schema
    };
    drop(routed);
    if schema.is_null() {
        // SAFETY: ours, handed out to no one.
        unsafe { xml::xmlFreeDoc(source) };
        return Err(failed(&reports));
    }
    Ok(Compiled { schema, source })
}

/// Validates `doc` against the schema of `kind`: no reports when it conforms.
pub(crate) fn validate(kind: MessageType, doc: &Document) -> Result<Reports, EngineError> {
    let compiled = compiled(kind)?;
    // SAFETY: the schema is alive while `compiled` is held (to the end of this function).
    let vctxt = unsafe { xml::xmlSchemaNewValidCtxt(compiled.schema) };
    if vctxt.is_null() {
        return Err(EngineError("no validation context (out of memory)".into()));
    }
    let mut reports = Box::<Reports>::default();
    // SAFETY: `vctxt` is live and freed before `reports`; `doc` owns a live document.
    let rc = unsafe {
        xml::xmlSchemaSetValidStructuredErrors(
            vctxt,
            Some(collect),
            (&mut *reports as *mut Reports).cast(),
        );
        let rc = xml::xmlSchemaValidateDoc(vctxt, doc.doc_ptr());
        xml::xmlSchemaFreeValidCtxt(vctxt);
        rc
    };
    match rc {
        0 => Ok(Reports::default()),
        rc if rc < 0 => Err(EngineError(format!(
            "validation against {kind} failed inside libxml2 ({rc})"
        ))),
        rc => {
            if reports.kept.is_empty() && reports.more == 0 {
                reports.kept.push(Reported {
                    line: 0,
                    code: rc,
                    message: format!("the message does not conform to its schema ({rc})"),
                    path: String::new(),
                    name: String::new(),
                    value: None,
                });
            }
            Ok(*reports)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The loader serves the embedded schemas by their `mem:` URLs and nothing else.
    #[test]
    fn the_loader_serves_only_embedded_schemas() {
        init();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("basisschema.xsd");
        std::fs::write(&file, schemas::by_url("mem:/jw/basisschema.xsd").unwrap()).unwrap();
        let load = |url: &str| {
            let url = CString::new(url).unwrap();
            // SAFETY: a fresh context; the input, if any, is freed before the context.
            unsafe {
                let ctxt = xml::xmlNewParserCtxt();
                let input = from_memory(url.as_ptr(), ptr::null(), ctxt);
                let loaded = !input.is_null();
                if loaded {
                    assert_eq!(CStr::from_ptr((*input).filename), url.as_c_str());
                    xml::xmlFreeInputStream(input);
                }
                xml::xmlFreeParserCtxt(ctxt);
                loaded
            }
        };
        assert!(load("mem:/jw/basisschema.xsd"));
        assert!(load("mem:/wmo/WMO301.xsd"));
        for refused in [
            file.display().to_string(),
            format!("file://{}", file.display()),
            "http://www.istandaarden.nl/ijw/3_2/basisschema.xsd".to_owned(),
            "mem:/jw/../../etc/passwd".to_owned(),
            "basisschema.xsd".to_owned(),
        ] {
            assert!(!load(&refused), "{refused}");
        }
    }

    /// Every embedded schema compiles, through the loader alone.
    #[test]
    fn every_schema_compiles() {
        for kind in MessageType::ALL {
            compiled(kind)
                .map(|_| ())
                .unwrap_or_else(|e| panic!("{kind}: {e}"));
        }
    }
}
