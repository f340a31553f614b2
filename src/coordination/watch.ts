import type { Watcher, WatchBuilder } from 'etcd3';

/**
 * Opens a watch with its listeners attached before it connects, and resolves once etcd has
 * created it.
 *
 * etcd3's `WatchBuilder.create()` resolves a few microtasks after the watcher's `connected`
 * event, and a watch that starts at a past revision replays the events since then right after
 * that event: a listener attached after `await create()` depends on timing not to miss them.
 * Attaching first removes the window. `attach` should also handle `error` (a failure after
 * creation); a failure before creation rejects the returned promise as well.
 */
export function openWatch(builder: WatchBuilder, attach: (w: Watcher) => void): Promise<Watcher> {
  const watcher = builder.watcher();
  attach(watcher);
  return new Promise((resolve, reject) => {
    const onConnected = () => {
      watcher.off('error', onError);
      resolve(watcher);
    };
    const onError = (err: Error) => {
      watcher.off('connected', onConnected);
      void watcher.cancel().catch(() => undefined);
      reject(err);
    };
    watcher.once('connected', onConnected);
    watcher.once('error', onError);
  });
}
