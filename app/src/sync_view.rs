//! [`SyncView`]: a view wrapper that only hydrates synchronously, to keep the wasm small.
//!
//! Every type-erased view (`AnyView`: a route's page, `<Show>`'s and `<A>`'s children, an
//! `.into_any()`) stores a pointer to its `hydrate_async`, so the async hydration of the whole
//! view tree under it is compiled into the bundle even though `hydrate_body` never calls it
//! (only lazy routes do). That async copy of the pages' view trees was a fifth of the wasm's code
//! (417 KB gzipped before, 347 KB with the routes wrapped). Wrapped in `SyncView`, the erased
//! type's `hydrate_async` is the trait's default, one call to the sync `hydrate` the bundle has
//! anyway. Everything else delegates, so the HTML and the hydrated DOM are the same as without
//! the wrapper (the test below checks the HTML).

use leptos::prelude::*;
use leptos::tachys::html::attribute::any_attribute::AnyAttribute;
use leptos::tachys::html::attribute::Attribute;
use leptos::tachys::hydration::Cursor;
use leptos::tachys::ssr::StreamBuilder;
use leptos::tachys::view::add_attr::AddAnyAttr;
use leptos::tachys::view::{Position, PositionState, Render, RenderHtml};

/// `view`, hydrated only synchronously (see the module docs).
pub struct SyncView<V>(pub V);

/// `view` type-erased, without the async hydration of its tree.
pub fn erased(view: impl IntoView + 'static) -> AnyView {
    SyncView(view).into_any()
}

impl<V: Render> Render for SyncView<V> {
    type State = V::State;

    fn build(self) -> Self::State {
        self.0.build()
    }

    fn rebuild(self, state: &mut Self::State) {
        self.0.rebuild(state)
    }
}

impl<V: AddAnyAttr> AddAnyAttr for SyncView<V> {
    type Output<SomeNewAttr: Attribute> = SyncView<V::Output<SomeNewAttr>>;

    fn add_any_attr<NewAttr: Attribute>(self, attr: NewAttr) -> Self::Output<NewAttr>
    where
        Self::Output<NewAttr>: RenderHtml,
    {
        SyncView(self.0.add_any_attr(attr))
    }
}

impl<V: RenderHtml> RenderHtml for SyncView<V> {
    type AsyncOutput = SyncView<V::AsyncOutput>;
    type Owned = SyncView<V::Owned>;

    const MIN_LENGTH: usize = V::MIN_LENGTH;
    const EXISTS: bool = V::EXISTS;

    fn dry_resolve(&mut self) {
        self.0.dry_resolve()
    }

    async fn resolve(self) -> Self::AsyncOutput {
        SyncView(self.0.resolve().await)
    }

    fn html_len(&self) -> usize {
        self.0.html_len()
    }

    fn to_html_with_buf(
        self,
        buf: &mut String,
        position: &mut Position,
        escape: bool,
        mark_branches: bool,
        extra_attrs: Vec<AnyAttribute>,
    ) {
        self.0
            .to_html_with_buf(buf, position, escape, mark_branches, extra_attrs)
    }

    fn to_html_async_with_buf<const OUT_OF_ORDER: bool>(
        self,
        buf: &mut StreamBuilder,
        position: &mut Position,
        escape: bool,
        mark_branches: bool,
        extra_attrs: Vec<AnyAttribute>,
    ) where
        Self: Sized,
    {
        self.0.to_html_async_with_buf::<OUT_OF_ORDER>(
            buf,
            position,
            escape,
            mark_branches,
            extra_attrs,
        )
    }

    fn hydrate<const FROM_SERVER: bool>(
        self,
        cursor: &Cursor,
        position: &PositionState,
    ) -> Self::State {
        self.0.hydrate::<FROM_SERVER>(cursor, position)
    }

    fn into_owned(self) -> Self::Owned {
        SyncView(self.0.into_owned())
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;
    use leptos::tachys::ssr::StreamChunk;

    /// The HTML of a (synchronous) stream, in order.
    fn streamed(mut s: StreamBuilder) -> String {
        s.take_chunks()
            .into_iter()
            .map(|c| match c {
                StreamChunk::Sync(html) => html,
                _ => panic!("a synchronous view streamed an async chunk"),
            })
            .collect()
    }

    #[test]
    fn renders_the_html_of_the_view_it_wraps() {
        Owner::new().with(|| {
            let n = RwSignal::new(2);
            let make = move || {
                view! {
                    <p class="a" class:b=move || n.get() == 2>"x " {move || n.get()}</p>
                    <input type="range" prop:value=move || n.get()/>
                    {move || (n.get() > 1).then(|| view! { <span>"more"</span> })}
                }
            };
            let plain = make().to_html();
            assert!(plain.contains("<span>more</span>"), "{plain}");
            assert_eq!(SyncView(make()).to_html(), plain);
            assert_eq!(erased(make()).to_html(), make().into_any().to_html());
            assert_eq!(
                streamed(SyncView(make()).to_html_stream_out_of_order()),
                streamed(make().to_html_stream_out_of_order())
            );
            assert_eq!(
                streamed(SyncView(make()).to_html_stream_in_order()),
                streamed(make().to_html_stream_in_order())
            );
        });
    }
}
