import 'element-plus/dist/index.css'
import './style.css'
import ElementPlus from 'element-plus'
import { createApp } from 'vue'
import App from './App.vue'
import { onSignedOut } from './api/client'
import { i18n } from './i18n'
import { router } from './router'
import { session } from './session'

onSignedOut(() => {
  session.me = null
  void router.push({ name: 'login', query: { next: router.currentRoute.value.fullPath } })
})

createApp(App).use(i18n).use(router).use(ElementPlus).mount('#app')
